"""Speed and memory figures of the pipeline, printed as figures and ratios against the goals.

    python benchmarks/bench.py                  # micro-benchmarks (a few minutes)
    python benchmarks/bench.py --repro          # + the default study, before and after, side by side
    python benchmarks/bench.py --repro --size 28 --core   # digits at 28 px, the five core methods

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
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

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
        torch.manual_seed(seed); models.append(build_classifier(1, 10, tc.net))
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


def study_params(root: Path, size: int | None, core: bool) -> dict:
    """The params.yaml of a clone with the benchmark's overrides."""
    params = yaml.safe_load((root / "params.yaml").read_text())
    if size is not None:
        params["base"]["image_size"] = size
    if core:
        tc = params["train_classifier"]
        tc["methods"] = {m: r for m, r in tc["methods"].items() if m in CORE}
        params["generate"]["pools"] = {"cgan": {"generator": "cgan", "labels": "onehot"}}
        params["train_gan"]["kinds"] = ["cgan"]
    return params


def run_study(ref: str, size: int | None, core: bool, tmp: Path) -> dict:
    """`dvc repro` of a clone at ``ref``; wall time, stage runs and per-stage work (if logged)."""
    proj = tmp / ref
    subprocess.run(["git", "clone", "-q", str(ROOT), str(proj)], check=True)
    subprocess.run(["git", "checkout", "-q", ref], cwd=proj, check=True)
    (proj / "dvc.lock").unlink(missing_ok=True)
    (proj / "params.yaml").write_text(yaml.safe_dump(study_params(proj, size, core), sort_keys=False))
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
    return {"wall": wall, "stages": len(re.findall(r"Running stage", out)), "rows": rows,
            "kinds": kinds, "metrics": json.loads((proj / "metrics/evaluate.json").read_text()),
            "gan_epoch": json.loads(gan.read_text())["seconds_per_epoch"] if gan.is_file() else None}


def bench_repro(old_ref: str, size: int | None, core: bool) -> None:
    """The study before and after, one after the other in this run."""
    label = f"{'core five methods' if core else 'default study'}" + (f" at {size} px" if size else "")
    with tempfile.TemporaryDirectory() as tmp:
        new = run_study("HEAD", size, core, Path(tmp))
        old = run_study(old_ref, size, core, Path(tmp))
    work = sum(r["work"] for r in new["rows"])
    print(f"{label}: old ({old_ref}) {old['wall'] / 60:.1f} min in {old['stages']} stage "
          f"processes; new {new['wall'] / 60:.1f} min in {new['stages']} -> "
          f"{old['wall'] / new['wall']:.2f}x faster")
    print(f"  new: stage work {work:.0f} s of {new['wall']:.0f} s wall; outside stage work "
          f"{1 - work / new['wall']:.1%} (start-up {sum(r['startup'] or 0 for r in new['rows']):.0f} s, "
          f"DVC and the rest {new['wall'] - work - sum(r['startup'] or 0 for r in new['rows']):.0f} s)")
    print(f"  cGAN seconds per epoch: old {old['gan_epoch']:.3f}, new {new['gan_epoch']:.3f}")
    print("  new, seconds of work per stage kind: " +
          ", ".join(f"{k} {v:.0f}" for k, v in sorted(new["kinds"].items(), key=lambda kv: -kv[1])))
    for method, row in new["metrics"].items():
        o = old["metrics"].get(method, {})
        print(f"  {method}: accuracy new {row['accuracy_mean']:.3f} ± {row['accuracy_std']:.3f}, "
              f"old {o.get('accuracy_mean', float('nan')):.3f} ± {o.get('accuracy_std', float('nan')):.3f}")


def main() -> None:
    """Parse flags and run the benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repro", action="store_true", help="time the study before and after")
    parser.add_argument("--old-ref", default=OLD_REF)
    parser.add_argument("--size", type=int, default=None, help="base.image_size for --repro")
    parser.add_argument("--core", action="store_true", help="--repro with the five core methods")
    parser.add_argument("--params", default=str(ROOT / "params.yaml"))
    args = parser.parse_args()
    params = load_params(args.params)
    torch.manual_seed(0)
    if args.repro:
        bench_repro(args.old_ref, args.size, args.core)
        return
    bench_classifiers(args.params, params)
    bench_filter(params)
    bench_covariance(params)
    bench_scoring(params)
    print(f"peak memory of this process: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
