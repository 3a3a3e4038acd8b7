"""python -m synthaug.compare on a one-stage DVC repo, and the CI workflow that runs it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, dvc, run

ONE_STAGE = {
    "stages": {
        "train": {
            "cmd": 'python -c "import yaml,json; p=yaml.safe_load(open(\'params.yaml\')); '
                   "json.dump({'acc': p['train']['lr']*10}, open('metrics.json','w'))\"",
            "params": ["train.lr"],
            "metrics": [{"metrics.json": {"cache": False}}],
        }
    }
}


def compare(*args: str, cwd: Path, check: bool = True):
    """``python -m synthaug.compare ARGS`` in ``cwd``."""
    return run([sys.executable, "-m", "synthaug.compare", *args], cwd=cwd, check=check)


@pytest.fixture(scope="module")
def changed_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git + DVC repo whose committed run has lr=0.1 and whose workspace has lr=0.25."""
    path = tmp_path_factory.mktemp("cmp")
    run(["git", "init", "-q", "-b", "main"], cwd=path)
    run(["git", "config", "user.email", "test@example.com"], cwd=path)
    run(["git", "config", "user.name", "test"], cwd=path)
    dvc("init", "-q", cwd=path)
    (path / "dvc.yaml").write_text(yaml.safe_dump(ONE_STAGE, sort_keys=False))
    (path / "params.yaml").write_text("train:\n  lr: 0.1\n")
    dvc("repro", "-q", cwd=path)
    run(["git", "add", "-A"], cwd=path)
    run(["git", "commit", "-qm", "base"], cwd=path)
    (path / "params.yaml").write_text("train:\n  lr: 0.25\n")
    dvc("repro", "-q", cwd=path)
    return path


def test_compare_reports_changed_param_and_metric(changed_repo: Path) -> None:
    proc = compare("--rev", "HEAD", "--output", "out.md", cwd=changed_repo)
    text = (changed_repo / "out.md").read_text()
    assert proc.stdout == text
    sha = run(["git", "rev-parse", "--short", "HEAD"], cwd=changed_repo).stdout.strip()
    assert "`HEAD`" in text.splitlines()[0] and sha in text.splitlines()[0]
    params, metrics = text.split("### Metrics changed")
    assert "### Params changed" in params
    param_row = next(line for line in params.splitlines() if "train.lr" in line)
    assert param_row.startswith("|") and "0.1" in param_row and "0.25" in param_row
    metric_row = next(line for line in metrics.splitlines() if "| acc" in line)
    assert metric_row.startswith("|") and "1.0" in metric_row and "2.5" in metric_row


def test_compare_without_changes_says_so(changed_repo: Path) -> None:
    run(["git", "stash", "-q"], cwd=changed_repo)
    try:
        text = compare(cwd=changed_repo).stdout
    finally:
        run(["git", "stash", "pop", "-q"], cwd=changed_repo)
    assert "no params changed" in text and "no metric changed" in text
    assert "|" not in text


def test_unknown_revision_exits_2_naming_it(changed_repo: Path) -> None:
    proc = compare("--rev", "no-such-rev", "--output", "bad.md", cwd=changed_repo, check=False)
    assert proc.returncode == 2
    assert "no-such-rev" in proc.stderr
    assert not (changed_repo / "bad.md").exists()


def test_workflow_runs_compare_on_pull_requests() -> None:
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "pipeline.yml").read_text())
    triggers = wf.get("on", wf.get(True))  # YAML 1.1 reads the key `on` as True
    assert "pull_request" in triggers and "workflow_dispatch" in triggers
    steps = [step for job in wf["jobs"].values() for step in job["steps"]]
    scripts = "\n".join(step.get("run", "") for step in steps)
    assert "python -m synthaug.compare" in scripts
    for ref in ("configs/tiny.yaml", "requirements.txt"):
        assert ref in scripts and (ROOT / ref).is_file(), ref
    assert (ROOT / "src" / "synthaug" / "compare.py").is_file()
    assert "usage:" in compare("--help", cwd=ROOT).stdout
