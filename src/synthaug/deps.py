"""The code each DVC stage runs, found by walking its imports with ``ast``.

A stage's code deps in ``dvc.yaml`` must be exactly its script plus every module of
the package that the script imports, directly or through other modules (package
``__init__`` files included, since importing a module runs them). Too few, and an
edit leaves stale results that look current; too many, and an edit reruns stages
that do not run the edited code. ``tests/test_stage_deps.py`` holds dvc.yaml to this::

    python -m synthaug.deps            # prints the deps each stage should list
    python -m synthaug.deps --write    # puts them into dvc.yaml (comments and the rest kept)
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

PACKAGE = "synthaug"


def _module_file(src: Path, module: str) -> Path | None:
    """The file of ``module`` (dotted, absolute) under ``src``, or None outside the package."""
    if module != PACKAGE and not module.startswith(PACKAGE + "."):
        return None
    base = src.joinpath(*module.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _module_name(src: Path, file: Path) -> str:
    """Dotted name of a file under ``src`` (a package's ``__init__.py`` names the package)."""
    parts = list(file.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(src: Path, file: Path) -> set[str]:
    """Absolute names of the package modules one file imports (anywhere in it, lazily too)."""
    tree = ast.parse(file.read_text(), filename=str(file))
    here = _module_name(src, file) if file.is_relative_to(src) else ""
    package = here if file.name == "__init__.py" else here.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # submodules
    return names


def code_deps(script: Path, src: Path) -> list[Path]:
    """Every package file ``script`` runs: its modules and their packages' inits.

    A script that imports :mod:`synthaug.core.launch` (a stage script ``stages/<name>.py``)
    runs ``synthaug.pipeline.<name>`` through the stage server, so that module and the server
    count as imported.
    """
    seen: set[Path] = set()
    todo = [script]

    def add(name: str) -> None:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b first
            dep = _module_file(src, ".".join(parts[:i]))
            if dep is not None and dep not in seen:
                seen.add(dep)
                todo.append(dep)

    if f"{PACKAGE}.core.launch" in _imported(src, script):  # launch.main runs the stage's module
        for name in (f"{PACKAGE}.pipeline.{script.stem}", f"{PACKAGE}.core.server"):
            add(name)
    while todo:
        for name in _imported(src, todo.pop()):
            add(name)
    return sorted(seen)


def expand(dep: Path) -> set[Path]:
    """The Python files a dvc.yaml dep covers: the file, or every ``.py`` under a folder."""
    return set(dep.rglob("*.py")) if dep.is_dir() else {dep}


def compact(files: list[Path], src: Path) -> list[Path]:
    """``files`` with every folder whose Python files are all in ``files`` listed as the folder."""
    wanted = set(files)
    folders = sorted({f.parent for f in files}, key=lambda d: len(d.parts))
    out: list[Path] = []
    covered: set[Path] = set()
    for folder in folders:
        if folder != src / PACKAGE and folder not in covered and expand(folder) <= wanted:
            out.append(folder)
            covered |= expand(folder) | set(folder.rglob("*"))
    out += [f for f in files if f not in covered]
    return sorted(out)


def stage_deps(root: Path) -> dict[str, list[str]]:
    """For each stage script under ``root/stages``, the code deps dvc.yaml should list."""
    return {script.stem: [str(script.relative_to(root))] +
            [str(d.relative_to(root)) for d in compact(code_deps(script, root / "src"), root / "src")]
            for script in sorted((root / "stages").glob("*.py"))}


def rewrite_dvc_yaml(text: str, deps: dict[str, list[str]]) -> str:
    """``text`` (dvc.yaml) with each stage's code deps replaced by ``deps``; all else kept."""
    out: list[str] = []
    stage, done = None, set()
    for line in text.splitlines():
        m = re.match(r"^  ([a-z_]+):\s*(#.*)?$", line)
        if m:
            stage = m.group(1)
        item = re.match(r"^(\s+)- (stages/\S+\.py|src/synthaug\S*)\s*$", line)
        if item and stage in deps:
            if stage not in done:  # the first code dep line: all of them, then skip the rest
                out += [f"{item.group(1)}- {d}" for d in deps[stage]]
                done.add(stage)
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def main() -> None:
    """Print each stage's code deps, or with ``--write`` put them into dvc.yaml."""
    root = Path.cwd()
    deps = stage_deps(root)
    if sys.argv[1:] == ["--write"]:
        path = root / "dvc.yaml"
        path.write_text(rewrite_dvc_yaml(path.read_text(), deps))
        return
    for name, files in deps.items():
        print(f"{name}:")
        for f in files:
            print(f"  - {f}")


if __name__ == "__main__":
    sys.exit(main())
