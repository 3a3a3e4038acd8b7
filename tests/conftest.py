"""Shared fixtures: a temporary DVC project on the tiny configuration."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILES = ["dvc.yaml", "stages", "src", "configs", "data/raw", ".gitignore", ".dvcignore"]


def project_env() -> dict[str, str]:
    """Environment for subprocesses: this interpreter first on PATH, quiet, offline."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    # One thread: the tiny tensors of the test configs gain nothing from more, and
    # several threads per process oversubscribe a small shared machine badly.
    env.update(CI="1", SYNTHAUG_NO_PROGRESS="1", DVC_NO_ANALYTICS="1", PYTHONUNBUFFERED="1",
               OMP_NUM_THREADS="1", SYNTHAUG_SERVER_IDLE="15")  # no stage server outlives the tests long
    return env


def run(cmd: list[str], cwd: Path, check: bool = True, **kw) -> subprocess.CompletedProcess:
    """Run a command in ``cwd``; on failure show its output."""
    proc = subprocess.run(cmd, cwd=cwd, env=project_env(), capture_output=True, text=True, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def dvc(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """``dvc ARGS`` with this interpreter's DVC."""
    return run([sys.executable, "-m", "dvc", *args], cwd=cwd, check=check)


def tiny_params(**overrides) -> dict:
    """configs/tiny.yaml with ``section={key: value}`` overrides merged in."""
    params = yaml.safe_load((ROOT / "configs" / "tiny.yaml").read_text())
    for section, values in overrides.items():
        params[section].update(values)
    return params


def git_identity(path: Path) -> None:
    """A committer for the repository at ``path`` (tests commit in fresh repositories)."""
    run(["git", "config", "user.email", "test@example.com"], cwd=path)
    run(["git", "config", "user.name", "test"], cwd=path)


def stages_run(log: str) -> list[str]:
    """Stages whose command DVC ran (not skipped, not restored) in a repro or exp run log."""
    return re.findall(r"Running stage '([^']+)'", log)


def stages_restored(log: str) -> list[str]:
    """Stages DVC restored from the run-cache instead of running them."""
    return re.findall(r"Stage '([^']+)' is cached - skipping run", log)


def make_project(path: Path, params: dict | None = None) -> Path:
    """A fresh git + DVC repo at ``path`` holding the pipeline and the given params."""
    path.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, path / name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif src.exists():
            shutil.copy2(src, path / name)
    (path / "params.yaml").write_text(yaml.safe_dump(params or tiny_params(), sort_keys=False))
    run(["git", "init", "-q", "-b", "main"], cwd=path)
    git_identity(path)
    dvc("init", "-q", cwd=path)
    dvc("config", "core.autostage", "true", cwd=path)
    run(["git", "add", "-A"], cwd=path)
    run(["git", "commit", "-qm", "init"], cwd=path)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh tiny project (not yet reproduced)."""
    return make_project(tmp_path / "proj")


@pytest.fixture(scope="session")
def full_tiny_run(tmp_path_factory) -> Path:
    """Every recipe of configs/tiny.yaml reproduced once (shared by read-only tests)."""
    path = make_project(tmp_path_factory.mktemp("full") / "proj")
    dvc("repro", cwd=path)
    return path
