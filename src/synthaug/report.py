"""Markdown tables and the report, generated from metrics files only."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .metrics import METRICS

LABELS = {"accuracy": "Accuracy", "auc": "AUC", "sensitivity": "Sensitivity",
          "specificity": "Specificity", "f1_macro": "Macro-F1"}


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def format_diff(row: Mapping[str, Any], metric: str) -> str:
    """'+0.012 [-0.004, +0.028]': paired difference to the baseline with its 95% interval."""
    diff = row.get(f"{metric}_diff")
    if diff is None:
        return "n/a"
    lo, hi = row.get(f"{metric}_diff_lo"), row.get(f"{metric}_diff_hi")
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{diff:+.3f}"
    return f"{diff:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def results_table(summary: Mapping[str, Mapping[str, Any]], baseline: str, n_test: int,
                  seeds: Sequence[int], metrics: Sequence[str] = METRICS) -> str:
    """Markdown table: mean ± std per method and metric, and the paired difference to baseline.

    The best mean of each metric column is marked in bold.
    """
    best = {m: max((r.get(f"{m}_mean") for r in summary.values()
                    if r.get(f"{m}_mean") is not None), default=None) for m in metrics}
    head = ["Method", "Synthetic"] + [LABELS.get(m, m) for m in metrics] + \
        [f"Δ {LABELS.get(m, m)} vs {baseline} [95% CI]" for m in metrics]
    lines = [
        f"Test split: {n_test} images; seeds: {', '.join(map(str, seeds))}. "
        f"Mean ± std over seeds; Δ = mean paired difference to `{baseline}` over the same seeds "
        "with a 95% t-interval. Best mean per column in bold.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] * len(head)) + "|",
    ]
    for method, row in summary.items():
        cells = [f"`{method}`", str(row.get("n_synthetic", 0))]
        for m in metrics:
            mean, std = row.get(f"{m}_mean"), row.get(f"{m}_std")
            cell = f"{_num(mean)} ± {_num(std)}"
            if mean is not None and best[m] is not None and math.isclose(mean, best[m]):
                cell = f"**{cell}**"
            cells.append(cell)
        cells += [format_diff(row, m) for m in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
