"""Determinism and "killed anywhere, nothing lost": same params and seed, identical results.

Two fresh projects run the full `dvc repro`. The first runs uninterrupted. The second is
SIGKILLed once inside every kind of stage (with its `dvc` process group, at a random
moment up to 0.3 s after the stage starts; the stage server then kills the stage's
process too) and restarted each time, until a last `dvc repro` finishes
it. Every file under metrics/ and reports/ (results.md, the report and its figures) must
then match byte for byte (wall-clock timings go to logs/, which is not compared), and so
must DVC's recorded hashes of the models and data: checkpoints are written through a file
object (torch names the archive after the file otherwise), resume.pt keeps no timings, and
no killed write ever leaves a file that looks complete (outputs are renamed into place).

The methods are cut to four that between them use every random path (one-hot and
GeMix pools, the random and selective filters, traditional augmentation, mixup and
zeta-mixup); one CPU thread as in test_interrupt (the same in both runs).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, make_project, project_env
from minimal import ONEHOT, mini_params

from synthaug.core.io import temp_files

pytestmark = pytest.mark.slow

METHODS = {
    "baseline": {"pool": "none", "filter": "all", "transform": "none", "mixing": "none"},
    "gan_selective": {"pool": "cgan", "filter": "selective", "transform": "none",
                      "mixing": "none"},
    "mixed": {"pool": "cgan", "filter": "random", "transform": "traditional",
              "mixing": "zeta_mixup"},
    "gemix": {"pool": "cgan_gemix", "filter": "selective", "transform": "none", "mixing": "mixup"},
}
POOLS = {"cgan": ONEHOT, "cgan_gemix": {**ONEHOT, "labels": "gemix"}}


def files(root: Path, folder: str) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted((root / folder).rglob("*")) if p.is_file()}


def out_hashes(root: Path) -> dict[str, str]:
    """md5 of every stage output under data/ and models/ as recorded in dvc.lock."""
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    return {o["path"]: o["md5"] for stage in lock["stages"].values() for o in stage.get("outs", [])
            if o["path"].startswith(("data/", "models/"))}


STAGE_KINDS = sorted(p.stem for p in (ROOT / "stages").glob("*.py"))  # killed in DVC's order


def stage_children(project: Path) -> list[int]:
    """Processes a stage server forked to run a stage in ``project`` (Linux /proc)."""
    info = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            cwd = os.readlink(entry / "cwd")
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to read
        info[int(entry.name)] = (b"synthaug.core.server" in cmdline, ppid, cwd)
    servers = {pid for pid, (server, _, _) in info.items() if server}
    return [pid for pid, (_, ppid, cwd) in info.items()
            if ppid in servers and Path(cwd) == project]


def assert_no_stage_outlives_its_script(project: Path, seconds: float = 10.0) -> None:
    """The server kills a stage whose script died (killpg cannot reach it: another session)."""
    deadline = time.monotonic() + seconds
    while stage_children(project) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stage_children(project) == [], "a stage kept running after its dvc repro was killed"


def repro(project: Path, env: dict[str, str]) -> subprocess.Popen:
    """`dvc repro` in its own process group, so a kill takes the running stage with it."""
    return subprocess.Popen([sys.executable, "-m", "dvc", "repro"], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def valid_json(path: Path) -> bool:
    try:
        json.loads(path.read_text())
    except ValueError:
        return False
    return True


def kill_once_per_kind(project: Path, env: dict[str, str], rng: random.Random) -> list[str]:
    """Run `dvc repro` again and again, each time SIGKILLing it soon after a stage of a kind
    not killed yet starts (in DVC's own order), until every kind was killed once."""
    remaining, kills = list(STAGE_KINDS), []
    while remaining:
        proc = repro(project, env)
        lines, killed = [], None
        for line in proc.stdout:
            lines.append(line)
            m = re.match(r"Running stage '([^'@]+)", line)
            if m and m.group(1) in remaining:
                killed = m.group(1)
                delay = rng.uniform(0.0, 0.3)
                time.sleep(delay)
                os.killpg(proc.pid, signal.SIGKILL)
                remaining.remove(killed)
                kills.append(f"{killed} +{delay:.2f}s")
                break
        proc.wait()  # reaped: DVC's rwlock then sees the PID as gone
        proc.stdout.close()
        assert_no_stage_outlives_its_script(project.resolve())
        assert killed is not None, f"ended before every kind was killed ({remaining}):\n" \
                                   f"{''.join(lines)}"
        lock = project / "dvc.lock"
        if lock.exists() and not isinstance(yaml.safe_load(lock.read_text() or "null"), dict):
            # the kill cut DVC's own rewrite of dvc.lock (DVC writes it in place, not through a
            # temporary file): DVC refuses the file, as it should; do what the README tells a
            # user to do: remove it, and `dvc repro` restores finished stages from the run-cache
            lock.unlink()
            kills[-1] += " (cut DVC's dvc.lock write)"
        rwlock = project / ".dvc" / "tmp" / "rwlock"
        if rwlock.exists() and not valid_json(rwlock):
            # the same for DVC's lock table (also rewritten in place): the README's advice is
            # to remove it, which is safe once no `dvc` process runs
            rwlock.unlink()
            kills[-1] += " (cut DVC's rwlock write)"
    return kills


def test_two_runs_give_identical_metrics_even_when_one_is_killed_in_every_stage(tmp_path):
    params = mini_params(train_classifier={"seeds": [0, 1], "methods": METHODS},
                         generate={"pools": POOLS})
    projects = [make_project(tmp_path / f"run{i}", params) for i in (1, 2)]
    env = {**project_env(), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    reference = repro(projects[0], env)
    rng = random.Random(int(os.environ.get("SYNTHAUG_KILL_SEED", "0")))
    kills = kill_once_per_kind(projects[1], env, rng)
    out, _ = reference.communicate(timeout=600)
    assert reference.returncode == 0, out
    last = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=projects[1], env=env,
                          capture_output=True, text=True, timeout=600)
    assert last.returncode == 0, (kills, last.stdout, last.stderr)
    # none of our temporary files is left (DVC's own, ".<random>.tmp" of a killed copy, may be:
    # they are .dvcignored, so no hash sees them)
    for folder in ("data", "models", "metrics", "reports"):
        top = projects[1] / folder
        leftovers = [p for d in [top, *top.rglob("*")] if d.is_dir() for p in temp_files(d)]
        assert leftovers == [], (kills, leftovers)

    a, b = projects
    metrics_a, metrics_b = files(a, "metrics"), files(b, "metrics")
    assert len(metrics_a) >= 8 and "metrics/evaluate.json" in metrics_a
    assert sorted(metrics_a) == sorted(metrics_b)
    differ = [name for name in metrics_a if metrics_a[name] != metrics_b[name]]
    assert differ == [], f"metrics differ between two runs: {differ} (kills: {kills})"
    reports_a, reports_b = files(a, "reports"), files(b, "reports")
    assert "reports/results.md" in reports_a  # and the report stage's text and figures
    differ = [name for name in reports_a if reports_a[name] != reports_b.get(name)]
    assert sorted(reports_a) == sorted(reports_b) and differ == [], differ
    assert not any(b"seconds" in content for content in metrics_a.values())  # timings: logs/

    hashes = out_hashes(a)
    assert "models/train_gan/cgan" in hashes and "data/selected/cgan.npz" in hashes
    assert hashes == out_hashes(b)
