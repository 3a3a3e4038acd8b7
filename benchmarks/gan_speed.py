"""The cGAN's seconds per epoch at 16 and 28 px: this tree against an earlier revision.

    python benchmarks/gan_speed.py [--rev 21df64c] [--rounds 3] [--epochs 10]

Both trees train the default cGAN (their own params.yaml) on the default digits training
split (175 images) in child processes with one thread, alternating before/after in every
round, so that the load of a shared machine hits both alike; the figures are the median
over rounds of each run's median epoch (the first epoch, with its warm-up, left out) and
of its whole call (imports excluded, checkpoint writes included) divided by the epochs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import dataclasses, json, sys, tempfile, time, statistics
import torch
from synthaug.augment import one_hot
from synthaug.core.params import load_params
from synthaug.data.sources import load_digits
from synthaug.data.splits import limit_training
from synthaug.pipeline.train_gan import generator_run
from synthaug.training.generators import train_generator
size, epochs, params_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
params = load_params(params_path)
digits = load_digits(size).train
cfg = params.prepare_data
train = digits.subset(limit_training(digits.labels, cfg.train_fraction, cfg.train_cap, seed=0))
x, y = torch.from_numpy(train.images), one_hot(torch.from_numpy(train.labels), train.num_classes)
run = dataclasses.replace(generator_run(params, "cgan", train), epochs=epochs, checkpoint_every=5)
with tempfile.TemporaryDirectory() as tmp:
    t0 = time.perf_counter()
    hist = train_generator(run, x, y, tmp)
    wall = time.perf_counter() - t0
print(json.dumps({"epoch": statistics.median(r["seconds"] for r in hist[1:]),
                  "wall": wall / epochs, "n": len(x)}))
"""


def export(rev: str, dest: Path) -> Path:
    """``src`` and ``params.yaml`` of revision ``rev`` under ``dest``."""
    archive = dest / "tree.tar"
    with open(archive, "wb") as fh:
        subprocess.run(["git", "archive", rev, "src", "params.yaml"], cwd=ROOT, stdout=fh,
                       check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return dest


def measure(tree: Path, size: int, epochs: int) -> dict[str, float]:
    """One child run of ``tree`` at ``size`` px."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "SYNTHAUG_NO_PROGRESS": "1"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(size), str(epochs),
                          str(tree / "params.yaml")], env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Alternate before/after runs and print the medians and the speed-up."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", default="21df64c", help="the earlier revision")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 28])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"before": export(args.rev, Path(tmp)), "after": ROOT}
        for size in args.sizes:
            runs: dict[str, list[dict[str, float]]] = {k: [] for k in trees}
            for _ in range(args.rounds):
                for name, tree in trees.items():
                    runs[name].append(measure(tree, size, args.epochs))
            med = {k: {m: statistics.median(r[m] for r in v) for m in ("epoch", "wall")}
                   for k, v in runs.items()}
            b, a = med["before"], med["after"]
            print(f"cGAN at {size} px ({runs['after'][0]['n']:.0f} images, 1 thread): "
                  f"epoch {b['epoch']:.3f} s -> {a['epoch']:.3f} s ({b['epoch'] / a['epoch']:.2f}x); "
                  f"whole call per epoch {b['wall']:.3f} s -> {a['wall']:.3f} s "
                  f"({b['wall'] / a['wall']:.2f}x) [{args.rev} -> this tree]")


if __name__ == "__main__":
    main()
