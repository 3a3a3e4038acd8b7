"""Markdown comparison of DVC metrics and params: the workspace against a git revision.

Built on ``dvc metrics diff --md`` and ``dvc params diff --md``; CI posts the result
on pull requests (see ``.github/workflows/pipeline.yml``). Usage::

    python -m synthaug.compare [--rev REV] [--output PATH] [--all]
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

from .core.errors import SynthaugError
from .core.io import write_text

log = logging.getLogger(__name__)


class CompareError(SynthaugError, RuntimeError):
    """The revision is unknown or a git/dvc command failed."""


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` in ``cwd`` capturing text output (never raises on a non-zero exit)."""
    log.debug("running %s in %s", " ".join(cmd), cwd)
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise CompareError(f"cannot run {cmd[0]}: {exc}") from exc


def short_sha(rev: str, cwd: Path) -> str:
    """The abbreviated commit sha of ``rev``; an unknown revision raises CompareError."""
    if not rev or rev.startswith("-"):
        raise CompareError(f"invalid revision {rev!r}")
    proc = _run(["git", "rev-parse", "--verify", "--quiet", "--short", f"{rev}^{{commit}}"], cwd)
    if proc.returncode != 0 or not proc.stdout.strip():
        detail = proc.stderr.strip()
        raise CompareError(f"unknown revision {rev!r} in {cwd}" + (f": {detail}" if detail else ""))
    return proc.stdout.strip()


def dvc_diff(kind: str, rev: str, cwd: Path, all_: bool = False) -> str:
    """``dvc KIND diff --md [--all] REV`` as a markdown table, or "" when it has no rows."""
    cmd = [sys.executable, "-m", "dvc", kind, "diff", "--md", *(["--all"] if all_ else []), rev]
    proc = _run(cmd, cwd)
    if proc.returncode != 0:
        detail = proc.stderr.strip() or proc.stdout.strip() or f"exit status {proc.returncode}"
        raise CompareError(f"dvc {kind} diff against revision {rev!r} failed: {detail}")
    for line in proc.stderr.strip().splitlines():
        log.warning("dvc %s diff %s: %s", kind, rev, line)
    rows = [line for line in proc.stdout.splitlines() if line.startswith("|")]
    return "\n".join(rows) if len(rows) > 2 else ""  # header + separator only: nothing changed


def compare_markdown(rev: str, cwd: Path, all_: bool = False) -> str:
    """Markdown report: heading naming ``rev``, then the params and metrics diff tables."""
    sha = short_sha(rev, cwd)
    params = dvc_diff("params", rev, cwd, all_)
    metrics = dvc_diff("metrics", rev, cwd, all_)
    which = "(all)" if all_ else "changed"
    return "\n".join([
        f"## Metrics and params: workspace vs `{rev}` (`{sha}`)",
        "",
        f"### Params {which}",
        "",
        params or "no params changed",
        "",
        f"### Metrics {which}",
        "",
        metrics or "no metric changed",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    """Command line: print the comparison and optionally write it to ``--output``."""
    parser = argparse.ArgumentParser(prog="python -m synthaug.compare", description=__doc__.split("\n")[0])
    parser.add_argument("--rev", default="HEAD", help="git revision to compare against (default HEAD)")
    parser.add_argument("--output", type=Path, help="also write the markdown to this file (atomically)")
    parser.add_argument("--all", dest="all_", action="store_true",
                        help="list every param and metric, changed or not")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("SYNTHAUG_LOG", "INFO"), format="%(levelname)s %(name)s: %(message)s")
    try:
        text = compare_markdown(args.rev, Path.cwd(), args.all_)
    except SynthaugError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.output is not None:
        write_text(args.output, text)
        log.info("wrote %s", args.output)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
