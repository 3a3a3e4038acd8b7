"""Speed and memory figures of the pipeline, printed as figures and ratios against the goals.

    python benchmarks/bench.py                  # micro-benchmarks (a few minutes)
    python benchmarks/bench.py --repro          # + the default study, before and after, side by side
    python benchmarks/bench.py --repro --size 28 --core   # digits at 28 px, the five core methods
    python benchmarks/bench.py --sizes          # seconds per epoch at 28/64/128 px and the peak
                                                # memory of every stage at 128 px (about 15 min)

Figures, not tests: timings depend on the machine and its load, so every comparison runs
both sides in the same invocation. ``--repro`` clones this repository at ``--old-ref``
(default: the last commit before the study engine) and at HEAD (commit first), runs
`dvc repro` in each, one after the other, with the same params overrides, and prints
wall time, stage processes, and (for HEAD, from logs/stages.jsonl) the time spent outside
stage work: interpreter start, imports and DVC's bookkeeping.

Goals (issue "a study you can iterate on"): default study <= 6 min on 2 cores and at most
half of the old one; one stage process per method plus the fixed stages; time outside
stage work <= 10% of wall; digits at 28 px with the five core methods <= 8 min.
Older goals: MC filter with the trunk computed once >= 3x the images/s of K full passes;
scoring all checkpoints <= 10% of generator training time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import torch
import yaml

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
OLD_REF = "89deafe"  # main before the study engine: one process per method x seed
CORE = ("baseline", "traditional", "gan_unfiltered", "gan_single_filter", "gan_selective")


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
    for kind in params.train_gan.kinds:
        spec = generator_run(params, kind, train)
        spec = dataclasses.replace(spec, epochs=2 * spec.checkpoint_every)
        with tempfile.TemporaryDirectory() as tmp:
            hist = train_generator(spec, x, y, tmp)
        train_per_ckpt = sum(r["seconds"] for r in hist) / 2
        gen = build_generator(kind, **spec.model_kwargs).eval()
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
        print(f"select_checkpoint {kind}: {per_ckpt * 1000:.0f} ms per checkpoint vs "
              f"{train_per_ckpt:.2f} s of training per checkpoint -> "
              f"{per_ckpt / train_per_ckpt:.1%} (goal <= 10%)")


TRAIN_SCRIPT = textwrap.dedent("""
    import sys, torch
    from synthaug.augment import TraditionalAugment, one_hot
    from synthaug.core.params import load_params
    from synthaug.core.runtime import resolve_precision
    from synthaug.data.sources import load_digits
    from synthaug.data.splits import make_splits
    from synthaug.models.classifier import build_classifier
    from synthaug.training.classifier import fit_classifiers
    p = load_params(sys.argv[1]); seeds = [int(s) for s in sys.argv[2].split(",")]
    c, tc = p.prepare_data, p.train_classifier
    s = make_splits(load_digits(p.base.image_size), val_per_class=c.val_per_class,
                    test_size=int(c.test_size), train_fraction=c.train_fraction,
                    train_cap=c.train_cap, seed=p.base.seed)
    (x, y), (vx, vy) = s.train.tensors(), s.val.tensors()
    models = []
    for seed in seeds:
        torch.manual_seed(seed); models.append(build_classifier(1, 10, tc.net, p.base.image_size))
    fit_classifiers(models, [torch.Generator().manual_seed(q) for q in seeds], x,
                    one_hot(y, 10), vx, vy, tc.schedule, transform=TraditionalAugment(rotate=10.0),
                    precision=resolve_precision(p.base.precision, "cpu"))
""")


def bench_classifiers(params_path: str, params: Params) -> None:
    """Classifiers per second: every seed in one process against one process per seed."""
    seeds = list(params.train_classifier.seeds)
    env = {**os.environ, "SYNTHAUG_NO_PROGRESS": "1"}

    def one(group: list[int]) -> None:
        subprocess.run([sys.executable, "-c", TRAIN_SCRIPT, params_path, ",".join(map(str, group))],
                       check=True, env=env)

    batched = best_of(lambda: one(seeds), repeats=2)
    separate = best_of(lambda: [one([s]) for s in seeds], repeats=2)
    print(f"train_classifier ({len(seeds)} seeds, traditional transform, processes included): "
          f"batched {len(seeds) / batched:.2f} classifiers/s, one process per seed "
          f"{len(seeds) / separate:.2f} classifiers/s -> {separate / batched:.2f}x")


def study_params(root: Path, size: int | None, core: bool, config: str | None = None,
                 precision: str | None = None) -> dict:
    """The params of a clone (or of ``config``, a path in the clone) with the overrides."""
    params = yaml.safe_load((root / (config or "params.yaml")).read_text())
    if size is not None:
        params["base"]["image_size"] = size
    if precision is not None:
        params["base"]["precision"] = precision
    if core:
        tc = params["train_classifier"]
        tc["methods"] = {m: r for m, r in tc["methods"].items() if m in CORE}
        params["generate"]["pools"] = {"cgan": {"generator": "cgan", "labels": "onehot"}}
        params["train_gan"]["kinds"] = ["cgan"]
        if "comparisons" in params.get("evaluate", {}):  # pairs of the methods kept
            params["evaluate"]["comparisons"] = [p for p in params["evaluate"]["comparisons"]
                                                 if set(p) <= set(CORE)]
    return params


def run_study(ref: str, size: int | None, core: bool, tmp: Path, config: str | None = None,
              precision: str | None = None, keep: str | None = None) -> dict:
    """`dvc repro` of a clone at ``ref``; wall time, stage runs and per-stage work (if logged).

    ``keep``: copy the run's metrics/, reports/ and logs/ there afterwards.
    """
    proj = tmp / ref
    subprocess.run(["git", "clone", "-q", str(ROOT), str(proj)], check=True)
    subprocess.run(["git", "checkout", "-q", ref], cwd=proj, check=True)
    (proj / "dvc.lock").unlink(missing_ok=True)
    (proj / "params.yaml").write_text(yaml.safe_dump(
        study_params(proj, size, core, config, precision), sort_keys=False))
    env = {**os.environ, "CI": "1", "PYTHONPATH": str(proj / "src"),
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=proj, env=env, check=True,
                         capture_output=True, text=True).stdout
    wall = time.perf_counter() - t0
    log = proj / "logs" / "stages.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
    kinds: dict[str, float] = {}
    for row in rows:
        kinds[row["stage"]] = kinds.get(row["stage"], 0.0) + row["work"]
    gan = proj / "logs" / "timing" / "train_gan" / "cgan.json"
    if keep:
        for folder in ("metrics", "reports", "logs"):
            shutil.copytree(proj / folder, Path(keep) / folder, dirs_exist_ok=True)
        shutil.copy2(proj / "params.yaml", Path(keep) / "params.yaml")
        (Path(keep) / "dvc-repro.log").write_text(out)
    return {"wall": wall, "stages": len(re.findall(r"Running stage", out)), "rows": rows,
            "kinds": kinds, "metrics": json.loads((proj / "metrics/evaluate.json").read_text()),
            "gan_epoch": json.loads(gan.read_text())["seconds_per_epoch"] if gan.is_file() else None}


def bench_repro(old_ref: str | None, size: int | None, core: bool, config: str | None = None,
                precision: str | None = None, keep: str | None = None) -> None:
    """The study before and after (unless ``old_ref`` is None), one after the other."""
    label = (config or ("core five methods" if core else "default study")) + \
        (f" at {size} px" if size else "") + (f", precision {precision}" if precision else "")
    with tempfile.TemporaryDirectory() as tmp:
        new = run_study("HEAD", size, core, Path(tmp), config, precision, keep)
        old = run_study(old_ref, size, core, Path(tmp), config) if old_ref else None
    work = sum(r["work"] for r in new["rows"])
    if old is None:
        print(f"{label}: {new['wall'] / 60:.1f} min in {new['stages']} stage processes")
    else:
        print(f"{label}: old ({old_ref}) {old['wall'] / 60:.1f} min in {old['stages']} stage "
              f"processes; new {new['wall'] / 60:.1f} min in {new['stages']} -> "
              f"{old['wall'] / new['wall']:.2f}x faster")
    startup = sum(r["startup"] or 0 for r in new["rows"])
    print(f"  new: stage work {work:.0f} s of {new['wall']:.0f} s wall; outside stage work "
          f"{1 - work / new['wall']:.1%} (start-up {startup:.0f} s, "
          f"DVC and the rest {new['wall'] - work - startup:.0f} s)")
    if new["gan_epoch"] is not None:
        print(f"  cGAN seconds per epoch: new {new['gan_epoch']:.3f}" +
              (f", old {old['gan_epoch']:.3f}" if old and old["gan_epoch"] else ""))
    print("  new, seconds of work per stage kind: " +
          ", ".join(f"{k} {v:.0f}" for k, v in sorted(new["kinds"].items(), key=lambda kv: -kv[1])))
    for method, row in new["metrics"].items():
        o = old["metrics"].get(method, {}) if old else {}
        print(f"  {method}: accuracy new {row['accuracy_mean']:.3f} ± {row['accuracy_std']:.3f}, "
              f"old {o.get('accuracy_mean', float('nan')):.3f} ± {o.get('accuracy_std', float('nan')):.3f}")


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
        sched = params.train_classifier.schedule.model_copy(update={"epochs": 3, "patience": None,
                                                                    "warmup_epochs": 0})
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
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    per_class = candidates // 40  # selected images per class; the pool holds 4x as many
    params["base"].update(image_size=size, device="cpu")
    params["prepare_data"].update(source="folder", path="raw", train_cap=30)
    one_epoch = {"epochs": 1, "warmup_epochs": 0, "patience": None}
    params["train_extractor"]["schedule"].update(one_epoch)
    params["train_gan"].update(kinds=["cgan"], epochs=1, checkpoint_every=1)
    params["select_checkpoint"].update(n_images=64)
    params["generate"].update(ratio=per_class / 30, pools={"cgan": {"generator": "cgan",
                                                                    "labels": "onehot"}})
    methods = params["train_classifier"]["methods"]
    params["train_classifier"].update(seeds=[0], methods={m: methods[m] for m in
                                                          ("baseline", "gan_selective")})
    params["train_classifier"]["schedule"].update(one_epoch)
    params["evaluate"]["comparisons"] = []  # only baseline vs gan_selective
    stages = [("prepare_data",), ("train_extractor",), ("train_gan", "cgan"),
              ("select_checkpoint", "cgan"), ("generate", "cgan"), ("filter_synthetic", "cgan"),
              ("train_classifier", "baseline"), ("train_classifier", "gan_selective"),
              ("evaluate",)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SYNTHAUG_NO_PROGRESS": "1",
           "SYNTHAUG_SERVER": "0"}  # measure the stage's own process, not a stage server's child
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
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repro", action="store_true", help="time the study before and after")
    parser.add_argument("--old-ref", default=OLD_REF)
    parser.add_argument("--size", type=int, default=None, help="base.image_size for --repro")
    parser.add_argument("--core", action="store_true", help="--repro with the five core methods")
    parser.add_argument("--only-new", action="store_true", help="--repro of HEAD only")
    parser.add_argument("--config", default=None, help="--repro with this params file of the repo")
    parser.add_argument("--precision", default=None, help="--repro with this base.precision")
    parser.add_argument("--keep", default=None, help="--repro: copy HEAD's metrics and reports here")
    parser.add_argument("--sizes", action="store_true",
                        help="epochs at 28/64/128 px and stage memory at 128 px")
    parser.add_argument("--stage-memory", action="store_true",
                        help="only the stage memory at 128 px (the second half of --sizes)")
    parser.add_argument("--params", default=str(ROOT / "params.yaml"))
    args = parser.parse_args()
    params = load_params(args.params)
    torch.manual_seed(0)
    if args.repro:
        bench_repro(None if args.only_new else args.old_ref, args.size, args.core, args.config,
                    args.precision, args.keep)
        return
    if args.sizes or args.stage_memory:
        if args.sizes:
            bench_sizes(params)
        bench_stage_memory()
        return
    bench_classifiers(args.params, params)
    bench_filter(params)
    bench_covariance(params)
    bench_scoring(params)
    print(f"peak memory of this process: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
