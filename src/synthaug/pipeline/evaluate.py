"""Stage ``evaluate``: test metrics of every method x seed; mean, std, paired differences and tests.

Every method is compared with ``evaluate.baseline``, and the pairs of ``evaluate.comparisons``
with each other: paired mean difference over the seeds, 95% t-interval, paired t-test p-value
and Holm-adjusted p-values across all comparisons of a metric. The only stage that reads the
test split.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core import paths
from ..core.checkpoints import load_checkpoint
from ..core.errors import DataError
from ..core.io import write_csv, write_json, write_text
from ..core.params import Params, check_positive_class
from ..data.dataset import load_split
from ..metrics import (
    classification_metrics,
    compare,
    comparison_pairs,
    headline,
    roc_points,
    summarize,
)
from ..models.classifier import classifier_from_checkpoint
from ..tables import comparisons_table, results_table, verdict
from ..training.classifier import predict_proba


def run(params: Params) -> dict[str, Any]:
    """Write ``metrics/evaluate.json``, per-seed metrics, confusion/ROC plot data and the results table."""
    tc, cfg = params.train_classifier, params.evaluate
    test = load_split(paths.prepared("test"))
    check_positive_class(cfg.positive_class, test.num_classes)
    missing = [str(paths.classifier(m, s)) for m in tc.methods for s in tc.seeds
               if not paths.classifier(m, s).is_file()]
    if missing:
        raise DataError(f"classifiers missing (run train_classifier first): {', '.join(missing[:5])}")
    x, y = test.tensors()
    per_seed: dict[str, dict[int, dict[str, float]]] = {}
    n_synthetic: dict[str, int] = {}
    names = np.asarray(test.class_names)
    for method in tc.methods:
        per_seed[method] = {}
        pooled = []
        for seed in tc.seeds:
            ckpt = load_checkpoint(paths.classifier(method, seed))
            model = classifier_from_checkpoint(ckpt)
            probs = predict_proba(model, x).numpy()
            per_seed[method][seed] = classification_metrics(y.numpy(), probs, cfg.positive_class)
            n_synthetic[method] = int(ckpt.get("n_synthetic", 0))
            pooled.append(probs)
        probs = np.concatenate(pooled)  # every seed's predictions of the test split
        truth = np.tile(y.numpy(), len(tc.seeds))
        write_csv(paths.evaluate_plot("confusion", method),
                  [{"actual": a, "predicted": p} for a, p in
                   zip(names[truth], names[probs.argmax(1)], strict=True)], ["actual", "predicted"])
        fpr, tpr = roc_points(truth, probs, cfg.positive_class)
        write_csv(paths.evaluate_plot("roc", method),
                  [{"fpr": f, "tpr": t} for f, t in zip(fpr, tpr, strict=True)], ["fpr", "tpr"])
    comparisons = compare(per_seed, comparison_pairs(list(tc.methods), cfg.baseline,
                                                     cfg.comparisons))
    summary = summarize(per_seed, baseline=cfg.baseline, comparisons=comparisons)
    for method in summary:
        summary[method]["n_synthetic"] = n_synthetic[method]
    write_json(paths.metrics("evaluate"), summary)
    write_json(paths.metrics("evaluate", "headline"), headline(summary))
    write_json(paths.METRICS / "evaluate_per_seed.json",
               {m: {f"seed_{s}": v for s, v in d.items()} for m, d in per_seed.items()})
    write_json(paths.metrics("evaluate_comparisons"), comparisons)
    write_text(paths.REPORTS / "results.md", "\n".join([
        verdict(comparisons, cfg.baseline, cfg.verdict_metric, cfg.alpha, len(tc.seeds)),
        results_table(summary, baseline=cfg.baseline, n_test=len(test), seeds=list(tc.seeds)),
        comparisons_table(comparisons, cfg.verdict_metric, cfg.alpha)]))
    return summary

