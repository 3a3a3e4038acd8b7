"""Interruptions (issue item 4): SIGKILL of `dvc repro` midway through train_gan, then resume.

train_gan trains in .synthaug/resume/train_gan/KIND (checkpoints and resume.pt, ignored by
git and DVC) and copies each checkpoint into its DVC output models/train_gan/KIND, an
ordinary output (not `persist`, so the run-cache can hold it): DVC deletes that output
before rerunning the stage, and the run resumes from the work folder all the same.

Every output is written to a hidden temporary name and renamed when complete
(:func:`synthaug.core.io.atomic_path`), so a killed stage leaves either complete files or
dot-prefixed ``.tmp`` leftovers, which the next write to the same target (and
train_gan's start) removes. DVC's run lock (``.dvc/tmp/rwlock``) still names the
killed ``dvc`` process; DVC drops such entries itself once that PID no longer exists,
so the test reaps the killed process (a zombie would still count as alive).

Both runs use one CPU thread (OMP_NUM_THREADS=1): on a busy two-core machine torch's
default of two threads makes these tiny networks about 100x slower, and it is the
same setting in both runs, so the checkpoints are comparable.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import dvc, make_project, project_env, stages_run
from minimal import mini_params

from synthaug.core.checkpoints import atomic_torch_save
from synthaug.core.io import (
    atomic_path,
    save_arrays,
    temp_files,
    write_csv,
    write_json,
    write_text,
)
from synthaug.training.generators import GeneratorRun, train_generator

GAN_DIR = Path("models/train_gan/cgan")
WORK_DIR = Path(".synthaug/resume/train_gan/cgan")
EPOCHS, EVERY = 300, 10


def params() -> dict:
    return mini_params(train_gan={"epochs": EPOCHS, "checkpoint_every": EVERY})


def env() -> dict[str, str]:
    return {**project_env(), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def start_repro(project: Path) -> subprocess.Popen:
    """``dvc repro train_gan@cgan`` in its own process group (so the stage dies with it)."""
    return subprocess.Popen([sys.executable, "-m", "dvc", "repro", "train_gan@cgan"], cwd=project,
                            env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def checkpoint_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("epoch_*.pt"))


def assert_only_complete_files(folder: Path) -> None:
    """Every visible file loads completely; anything else is a hidden temporary file."""
    for p in folder.iterdir():
        if p.name.startswith("."):
            assert ".tmp" in p.name, p
            continue
        assert re.fullmatch(r"epoch_\d{3}\.pt|resume\.pt", p.name), p
        ckpt = torch.load(p, map_location="cpu", weights_only=False)
        assert ckpt["epoch"] % EVERY == 0 and ckpt["fingerprint"], p


@pytest.mark.slow
def test_sigkill_midway_then_repro_resumes_to_the_same_checkpoints(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # for conftest's dvc() too
    monkeypatch.setenv("MKL_NUM_THREADS", "1")
    killed = make_project(tmp_path / "killed", params())
    reference = make_project(tmp_path / "reference", params())
    ref_proc = start_repro(reference)  # the uninterrupted run, side by side

    proc = start_repro(killed)
    folder, work = killed / GAN_DIR, killed / WORK_DIR
    deadline = time.monotonic() + 240
    # epoch_020.pt is written after resume.pt of epoch 10, so there is a checkpoint to resume
    # from (killed between epoch_010.pt and its resume.pt, the run would start anew)
    while not (folder / f"epoch_{2 * EVERY:03d}.pt").exists():
        assert proc.poll() is None, f"dvc repro ended early:\n{proc.stdout.read()}"
        assert time.monotonic() < deadline, "no checkpoint after 240 s"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()  # reaped: DVC's rwlock now sees the PID as gone
    proc.stdout.close()

    done = checkpoint_names(work)
    assert f"epoch_{2 * EVERY:03d}.pt" in done and f"epoch_{EPOCHS:03d}.pt" not in done, done
    assert set(checkpoint_names(folder)) <= set(done)  # the output: copies, never resume.pt
    assert_only_complete_files(work)
    assert_only_complete_files(folder)
    assert not (folder / "resume.pt").exists()
    last = torch.load(work / "resume.pt", weights_only=False)["epoch"]
    assert EVERY <= last < EPOCHS
    # a write killed midway: the next run must remove it, never take it for a checkpoint
    (work / f".epoch_{last + EVERY:03d}.pt.dead0000.pt.tmp").write_bytes(b"half a checkpoint")
    assert not (killed / "metrics/train_gan/cgan.json").exists()

    out = dvc("repro", "train_gan@cgan", cwd=killed)
    log = out.stdout + out.stderr
    assert f"resuming after epoch {last} of {EPOCHS}" in log, log
    assert "prepare_data" not in stages_run(log)
    assert temp_files(folder) == [] and temp_files(work) == []
    assert checkpoint_names(folder) == checkpoint_names(work)

    ref_out, _ = ref_proc.communicate(timeout=300)
    assert ref_proc.returncode == 0, ref_out
    ref_folder = reference / GAN_DIR
    names = checkpoint_names(ref_folder)
    assert names == checkpoint_names(folder) and len(names) == EPOCHS // EVERY
    for name in names:
        a = torch.load(folder / name, weights_only=False)
        b = torch.load(ref_folder / name, weights_only=False)
        assert {k: v for k, v in a.items() if k != "state_dict"} == \
               {k: v for k, v in b.items() if k != "state_dict"}, name
        assert a["state_dict"].keys() == b["state_dict"].keys()
        for key, tensor in a["state_dict"].items():
            assert torch.equal(tensor, b["state_dict"][key]), (name, key)
    # same final losses in the metrics, and DVC records identical outputs
    assert (killed / "metrics/train_gan/cgan.json").read_bytes() == \
           (reference / "metrics/train_gan/cgan.json").read_bytes()
    assert "up to date" in dvc("repro", "train_gan@cgan", cwd=killed).stdout
    assert gan_hash(killed) == gan_hash(reference)
    assert (work / "resume.pt").read_bytes() == (reference / WORK_DIR / "resume.pt").read_bytes()


def ae_run(epochs: int) -> GeneratorRun:
    return GeneratorRun("ae", {"num_classes": 4, "channels": 1, "image_size": 8, "z_dim": 4,
                               "hidden": 16, "noise": 0.5},
                        {"lr": 1e-3}, epochs=epochs, checkpoint_every=2, batch_size=8, seed=0)


def test_output_deleted_between_runs_resumes_from_the_work_folder(tmp_path, caplog):
    """What DVC does to a stage's (not persisted) output before rerunning it: delete it."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(24, 1, 8, 8, generator=g) * 2 - 1
    y = torch.eye(4)[torch.arange(24) % 4]
    out, work, ref = tmp_path / "out", tmp_path / "work", tmp_path / "ref"
    train_generator(ae_run(6), x, y, ref)  # uninterrupted, in one folder (the default)
    train_generator(ae_run(4), x, y, out, work_dir=work)  # stopped after epoch 4
    assert checkpoint_names(out) == checkpoint_names(work) == ["epoch_002.pt", "epoch_004.pt"]
    assert (work / "resume.pt").is_file() and not (out / "resume.pt").exists()

    shutil.rmtree(out)
    out.mkdir()  # and stale files of another layout or run are dropped
    (out / "resume.pt").write_bytes(b"old layout")
    (out / "epoch_008.pt").write_bytes(b"a later run")
    with caplog.at_level(logging.INFO, logger="synthaug.training.generators"):
        train_generator(ae_run(6), x, y, out, work_dir=work)
    assert "resuming after epoch 4 of 6" in caplog.text
    assert checkpoint_names(out) == checkpoint_names(ref) == checkpoint_names(work)
    assert sorted(p.name for p in out.iterdir()) == checkpoint_names(ref)
    for name in checkpoint_names(ref):
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name
    assert (work / "resume.pt").read_bytes() == (ref / "resume.pt").read_bytes()


def gan_hash(project: Path) -> str:
    """DVC's hash of the whole generator folder, from dvc.lock."""
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    outs = lock["stages"]["train_gan@cgan"]["outs"]
    return next(o["md5"] for o in outs if o["path"] == str(GAN_DIR))


# ------------------------------------------------------------------ atomic writes (every stage)

WRITERS = {
    "json": lambda p: write_json(p, {"a": 1}),
    "text": lambda p: write_text(p, "new"),
    "csv": lambda p: write_csv(p, [{"a": 1}], ["a"]),
    "npz": lambda p: save_arrays(p, x=np.zeros(3)),
    "torch": lambda p: atomic_torch_save({"x": torch.zeros(3)}, p),
}


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, kind):
    target = tmp_path / f"out.{kind}"
    target.write_text("old")

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        WRITERS[kind](target)
    assert target.read_text() == "old" and sorted(tmp_path.iterdir()) == [target]
    monkeypatch.undo()
    WRITERS[kind](target)
    assert target.read_bytes() != b"old" and sorted(tmp_path.iterdir()) == [target]
    assert target.stat().st_mode & 0o044  # not mkstemp's 0600: others may read outputs


def test_sigkill_during_a_write_leaves_only_a_hidden_temporary(tmp_path):
    target = tmp_path / "data" / "train.npz"
    script = textwrap.dedent(f"""
        import sys, time
        from synthaug.core.io import atomic_path
        with atomic_path({str(target)!r}, suffix=".tmp.npz") as tmp:
            tmp.write_bytes(b"half an array")
            print("writing", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env=env(), stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.kill()
    proc.wait()
    proc.stdout.close()
    left = sorted(target.parent.iterdir())
    assert not target.exists() and len(left) == 1 and left[0].name.startswith(".train.npz.")
    assert temp_files(target.parent) == left
    other = target.parent / ".val.npz.0000.tmp.npz"  # another target's leftover is not touched
    other.write_bytes(b"x")
    save_arrays(target, x=np.arange(3))  # the rerun's write removes its own leftover
    assert sorted(p.name for p in target.parent.iterdir()) == [other.name, "train.npz"]
    with atomic_path(target.parent / "val.npz", suffix=".tmp.npz") as tmp:
        np.savez(tmp, x=np.arange(2))
    assert sorted(p.name for p in target.parent.iterdir()) == ["train.npz", "val.npz"]
