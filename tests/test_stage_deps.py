"""dvc.yaml lists exactly the code each stage runs: its script and every module it imports."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from synthaug.deps import code_deps, compact, expand, rewrite_dvc_yaml, stage_deps

SRC = ROOT / "src"


def stage_definitions() -> dict[str, dict]:
    """Each stage of dvc.yaml by its script name (foreach/matrix stages once, by their template)."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: stage.get("do", stage) for name, stage in stages.items()}


def declared_code(stage: dict) -> set[Path]:
    """The Python files under src/ and stages/ that a stage's deps cover."""
    out: set[Path] = set()
    for dep in stage.get("deps", []):
        path = ROOT / dep
        if "${" not in dep and path.exists() and (path.is_relative_to(SRC)
                                                   or path.is_relative_to(ROOT / "stages")):
            out |= expand(path)
    return out


@pytest.mark.parametrize("name", sorted(stage_definitions()))
def test_code_deps_are_exactly_the_imported_modules(name: str) -> None:
    stage = stage_definitions()[name]
    script = ROOT / "stages" / f"{name}.py"
    assert f"python stages/{name}.py" in stage["cmd"], "one name per stage: script = stage name"
    needed = {script, *code_deps(script, SRC)}
    declared = declared_code(stage)
    missing = sorted(str(p.relative_to(ROOT)) for p in needed - declared)
    extra = sorted(str(p.relative_to(ROOT)) for p in declared - needed)
    hint = "run `python -m synthaug.deps` for the list dvc.yaml should hold"
    assert not missing, f"dvc.yaml stage {name} misses code it runs: {missing}; {hint}"
    assert not extra, f"dvc.yaml stage {name} lists code it never imports: {extra}; {hint}"


def test_every_stage_script_is_a_stage() -> None:
    assert {p.stem for p in (ROOT / "stages").glob("*.py")} == set(stage_definitions())


def test_walker_follows_relative_lazy_and_package_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "src" / "synthaug"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text("from . import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..c import g\n")
    (pkg / "c.py").write_text("import os\n")
    (pkg / "unused.py").write_text("")
    script = tmp_path / "stages" / "s.py"
    script.parent.mkdir()
    script.write_text("from synthaug.sub.a import x\n")
    found = code_deps(script, tmp_path / "src")
    names = sorted(str(p.relative_to(pkg)) for p in found)
    assert names == ["__init__.py", "c.py", "sub/__init__.py", "sub/a.py", "sub/b.py"]
    assert compact(found, tmp_path / "src") == sorted([pkg / "__init__.py", pkg / "c.py", pkg / "sub"])


def test_a_launched_stage_counts_its_pipeline_module_and_the_server(tmp_path: Path) -> None:
    pkg = tmp_path / "src" / "synthaug"
    for folder in ("core", "pipeline"):
        (pkg / folder).mkdir(parents=True)
        (pkg / folder / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "core" / "launch.py").write_text("import os\n")
    (pkg / "core" / "server.py").write_text("from .launch import x\n")
    (pkg / "pipeline" / "s.py").write_text("from ..core import paths\n")
    (pkg / "core" / "paths.py").write_text("")
    (pkg / "pipeline" / "other.py").write_text("")
    script = tmp_path / "stages" / "s.py"
    script.parent.mkdir()
    script.write_text("from synthaug.core.launch import main\n")
    names = sorted(str(p.relative_to(pkg)) for p in code_deps(script, tmp_path / "src"))
    assert names == ["__init__.py", "core/__init__.py", "core/launch.py", "core/paths.py",
                     "core/server.py", "pipeline/__init__.py", "pipeline/s.py"]
    plain = tmp_path / "other.py"  # a script that does not launch: only what it imports
    plain.write_text("import synthaug.core.paths\n")
    assert sorted(str(p.relative_to(pkg)) for p in code_deps(plain, tmp_path / "src")) == [
        "__init__.py", "core/__init__.py", "core/paths.py"]


def test_dvc_yaml_is_what_deps_write_produces() -> None:
    text = (ROOT / "dvc.yaml").read_text()
    assert rewrite_dvc_yaml(text, stage_deps(ROOT)) == text
