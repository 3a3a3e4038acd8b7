"""A study shared through a DVC remote (issue 12): clones, experiments, a split study.

Every test uses real git clones through a bare git repository and a real DVC remote on
a local folder (the same commands work with an S3 or SSH remote: README, "Sharing a
study"), on the cut-down tiny configuration of tests/minimal.py (one generator kind,
three methods) so that each test stays well under two minutes.

What DVC 3 needs for this, and what dvc.yaml does about it (see its header):
- the run-cache never records a stage with a `persist: true` output, so train_gan
  resumes from .synthaug/resume/ instead of a persisted output (tests/test_interrupt.py);
- it never records a stage with a plain `cache: false` output, and `cache: false`
  metrics/plots never reach a remote, so every output is cached and metrics/,
  reports/ and dvclive/ are git-ignored DVC outputs;
- `dvc pull --run-cache` (or `dvc fetch --run-cache`) downloads the run-cache records,
  but the outputs those records name are downloaded only by `dvc repro --pull`, while it
  restores each stage; a plain `dvc repro` runs every stage that the clone's dvc.lock
  does not already record (test_study_split_across_two_clones_...).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, dvc, git_identity, make_project, run, stages_restored, stages_run
from minimal import mini_params

from synthaug.metrics import headline

GENERATOR_BRANCH = ["prepare_data", "train_extractor", "train_gan@cgan",
                    "select_checkpoint@cgan", "generate@cgan", "filter_synthetic@cgan"]
AFTER_GENERATE = ["generate@cgan", "filter_synthetic@cgan", "train_classifier@gan_selective",
                  "oversample", "evaluate", "report"]  # oversample: the same budget as generate
HEADLINE = "metrics/evaluate/headline.json"


def all_stages(project: Path) -> list[str]:
    """Every stage of the project (foreach stages expanded), from dvc.lock."""
    return sorted(yaml.safe_load((project / "dvc.lock").read_text())["stages"])


def git(*args: str, cwd: Path) -> str:
    return run(["git", *args], cwd=cwd).stdout


def new_origin(path: Path) -> Path:
    """An empty bare git repository (what GitHub is to the clones)."""
    run(["git", "init", "-q", "--bare", "-b", "main", str(path)], cwd=path.parent)
    return path


def publish(project: Path, origin: Path, storage: Path) -> None:
    """Make ``storage`` the project's default DVC remote, commit, push to ``origin``."""
    dvc("remote", "add", "-d", "storage", str(storage), cwd=project)
    git("add", "-A", cwd=project)
    git("commit", "-qm", "DVC remote", cwd=project)
    git("remote", "add", "origin", str(origin), cwd=project)
    git("push", "-q", "origin", "main", cwd=project)


def clone(origin: Path, path: Path) -> Path:
    """A fresh git clone: code, params, dvc.lock; no DVC cache, no outputs."""
    run(["git", "clone", "-q", "-b", "main", str(origin), str(path)], cwd=origin.parent)
    git_identity(path)
    return path


def metrics_json(project: Path, *args: str) -> dict:
    """``dvc metrics show --json``: {revision: {"data": {path: {"data": values}}}}."""
    return json.loads(dvc("metrics", "show", "--json", *args, cwd=project).stdout)


def set_ratio(project: Path, ratio: float) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["generate"]["ratio"] = ratio
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict[str, Path]:
    """Machine A: the whole (mini) study reproduced, committed, pushed with the run-cache."""
    root = tmp_path_factory.mktemp("share")
    origin, storage = new_origin(root / "origin.git"), root / "storage"
    a = make_project(root / "a", mini_params())
    publish(a, origin, storage)
    dvc("repro", cwd=a)
    git("add", "-A", cwd=a)
    git("commit", "-qm", "study", cwd=a)
    git("push", "-q", "origin", "main", cwd=a)
    dvc("push", "--run-cache", cwd=a)
    return {"root": root, "a": a, "origin": origin, "storage": storage}


# ------------------------------------------------------------------ 2. a clone reproduces nothing


@pytest.mark.slow
def test_clone_pulls_the_study_reproduces_nothing_and_reruns_only_after_generate(study):
    a, b = study["a"], clone(study["origin"], study["root"] / "b")
    tracked = git("ls-files", cwd=b).split()
    assert "dvc.lock" in tracked and not [f for f in tracked if f.startswith(
        ("metrics/", "reports/", "models/", "dvclive/", ".synthaug/"))]

    dvc("pull", "--run-cache", cwd=b)
    log = dvc("repro", cwd=b).stdout
    assert stages_run(log) == [] and stages_restored(log) == [], log
    assert metrics_json(b) == metrics_json(a)
    assert (b / HEADLINE).read_bytes() == (a / HEADLINE).read_bytes()
    assert list(metrics_json(b)[""]["data"])[0] == HEADLINE  # first row of `dvc metrics show`
    assert dvc("status", cwd=b).stdout.strip() == "Data and pipelines are up to date."

    set_ratio(b, 1.0)  # a ratio the study never ran: only generate and what follows run
    assert sorted(stages_run(dvc("repro", cwd=b).stdout)) == sorted(AFTER_GENERATE)
    assert metrics_json(b) != metrics_json(a)

    set_ratio(b, 0.5)  # back to A's ratio: every one of those stages comes from A's run-cache
    log = dvc("repro", cwd=b).stdout
    assert stages_run(log) == [] and sorted(stages_restored(log)) == sorted(AFTER_GENERATE), log
    assert metrics_json(b) == metrics_json(a)


# ------------------------------------------------------------------ 3. experiments travel


def experiment_metrics(exp_show: list[dict]) -> dict[str, dict]:
    """{experiment name: {metrics file: values}} from ``dvc exp show --json``."""
    found = {}
    for baseline in exp_show:
        for exp in baseline.get("experiments") or []:
            for rev in exp["revs"]:
                data = rev.get("data") or {}
                found[rev["name"]] = {path: m.get("data") for path, m in
                                      (data.get("metrics") or {}).items()}
    return found


@pytest.mark.slow
def test_queued_ratio_ablation_travels_with_exp_push_and_exp_pull(study):
    x = clone(study["origin"], study["root"] / "x")
    dvc("pull", cwd=x)
    for name, ratio in (("r025", 0.25), ("r100", 1.0)):
        dvc("exp", "run", "--queue", "-n", name, "-S", f"generate.ratio={ratio}", cwd=x)
    log = dvc("exp", "run", "--run-all", "-j", "1", cwd=x)
    sent = experiment_metrics(json.loads(dvc("exp", "show", "--json", cwd=x).stdout))
    assert sorted(sent) == ["r025", "r100"], log.stdout
    assert sent["r025"][HEADLINE] != sent["r100"][HEADLINE]
    dvc("exp", "push", "origin", "r025", "r100", cwd=x)

    y = clone(study["origin"], study["root"] / "y")
    assert experiment_metrics(json.loads(dvc("exp", "show", "--json", cwd=y).stdout)) == {}
    dvc("exp", "pull", "origin", "r025", "r100", cwd=y)
    shown = dvc("exp", "show", "--json", cwd=y).stdout
    assert experiment_metrics(json.loads(shown)) == sent

    # `dvc exp show --only-changed`: the headline's columns come first
    header = dvc("exp", "show", "--only-changed", "--csv", cwd=y).stdout.splitlines()[0]
    fixed = {"Experiment", "rev", "typ", "Created", "parent", "State", "Executor"}
    first = next(col for col in header.split(",") if col not in fixed)
    assert first.split(".")[0] in sent["r025"][HEADLINE] and first.endswith(("_mean", "_diff"))

    # the readable comparison of two experiments (README): one row per headline number
    diff = dvc("metrics", "diff", "r025", "r100", "--targets", HEADLINE, "--no-path",
               cwd=y).stdout
    rows = [line.split() for line in diff.splitlines()[1:] if line.strip()]
    assert {r[0] for r in rows} <= {f"{m}.{k}" for m in sent["r025"][HEADLINE]
                                    for k in ("accuracy_mean", "accuracy_diff",
                                              "auc_mean", "auc_diff")}
    assert any(r[0] == "gan_selective.auc_mean" for r in rows), diff
    assert max(len(line) for line in diff.splitlines()) < 100, diff


# ------------------------------------------------------------------ 5. a study split across machines


@pytest.mark.slow
def test_study_split_across_two_clones_is_restored_whole_by_a_third(tmp_path):
    origin, storage = new_origin(tmp_path / "origin.git"), tmp_path / "storage"
    publish(make_project(tmp_path / "project", mini_params()), origin, storage)

    # machine 1 (say, with a GPU): the generator branch, then its run-cache to the remote
    gpu = clone(origin, tmp_path / "gpu")
    log = dvc("repro", "filter_synthetic@cgan", cwd=gpu).stdout
    assert sorted(stages_run(log)) == sorted(GENERATOR_BRANCH), log
    dvc("push", "--run-cache", cwd=gpu)

    # machine 2: restores machine 1's stages from the run-cache, runs the methods and the rest
    cpu = clone(origin, tmp_path / "cpu")
    log = dvc("repro", "--pull", cwd=cpu).stdout
    assert sorted(stages_restored(log)) == sorted(GENERATOR_BRANCH), log
    assert set(stages_run(log)) == set(all_stages(cpu)) - set(GENERATOR_BRANCH)
    dvc("push", "--run-cache", cwd=cpu)

    # machine 3: has neither's dvc.lock; everything comes from the remote's run-cache
    third = clone(origin, tmp_path / "third")
    assert not (third / "dvc.lock").exists()
    dvc("fetch", "--run-cache", cwd=third)
    # the records alone are not enough: without --pull, repro would run even the first stage
    # (the outputs that a record names are not in the local cache, so it is not restored)
    assert stages_run(dvc("repro", "--dry", "prepare_data", cwd=third).stdout) == ["prepare_data"]
    log = dvc("repro", "--pull", cwd=third).stdout
    assert stages_run(log) == [] and sorted(stages_restored(log)) == all_stages(cpu), log
    assert metrics_json(third) == metrics_json(cpu)
    assert yaml.safe_load((third / "dvc.lock").read_text()) == \
           yaml.safe_load((cpu / "dvc.lock").read_text())
    assert stages_run(dvc("repro", cwd=third).stdout) == []


# ------------------------------------------------------------------ 4. headline metrics


def test_headline_keeps_accuracy_auc_and_their_difference_with_the_summary_names():
    row = {"n_seeds": 5.0, "accuracy_mean": 0.9, "accuracy_std": 0.01, "accuracy_diff": 0.02,
           "accuracy_diff_lo": -0.01, "auc_mean": 0.99, "auc_diff": None, "f1_macro_mean": 0.8}
    out = headline({"baseline": {**row, "accuracy_diff": 0.0}, "gan_selective": row})
    assert list(out) == ["baseline", "gan_selective"]
    assert out["gan_selective"] == {"accuracy_mean": 0.9, "accuracy_diff": 0.02,
                                    "auc_mean": 0.99, "auc_diff": None}
    assert out["baseline"]["accuracy_diff"] == 0.0


# ------------------------------------------------------------------ the CI matrix example


def test_split_study_workflow_parses_and_matches_the_pipeline():
    """.github/workflows/split-study.yml: the pattern above as a CI matrix."""
    wf = yaml.safe_load((ROOT / ".github/workflows/split-study.yml").read_text())
    jobs = wf["jobs"]
    assert list(jobs) == ["setup", "generators", "real_methods", "synthetic_methods", "collect"]
    assert jobs["generators"]["needs"] == "setup" and jobs["real_methods"]["needs"] == "setup"
    assert jobs["synthetic_methods"]["needs"] == "generators"
    assert sorted(jobs["collect"]["needs"]) == ["real_methods", "synthetic_methods"]
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    kinds = jobs["generators"]["strategy"]["matrix"]["kind"]
    assert sorted(kinds) == sorted(params["train_gan"]["kinds"])
    grouped = [m for g in jobs["synthetic_methods"]["strategy"]["matrix"]["include"]
               for m in g["methods"].split()]
    grouped += jobs["real_methods"]["env"]["METHODS"].split()
    assert sorted(grouped) == sorted(params["train_classifier"]["methods"])
    recipes = params["train_classifier"]["methods"]
    assert all(recipes[m]["pool"] in ("none", "oversample")  # need no generator
               for m in jobs["real_methods"]["env"]["METHODS"].split())
    for name, job in jobs.items():
        script = "\n".join(step.get("run", "") for step in job["steps"])
        assert "dvc repro --pull" in script and "dvc push --run-cache" in script, name
