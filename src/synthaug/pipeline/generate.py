"""Stage ``generate@POOL``: 4 * b_i candidates per class (``generate.budget``) from the chosen checkpoint."""

from __future__ import annotations

import logging
from typing import Any

from ..budgets import budget_per_class
from ..core import paths
from ..core.errors import ConfigError
from ..core.io import save_arrays
from ..core.params import Params
from ..core.runtime import resolve_device, seed_everything
from ..data.dataset import load_split
from ..sampling import generate_pool, load_generator

log = logging.getLogger(__name__)


def run(params: Params, pool_name: str) -> dict[str, Any]:
    """Write ``data/pools/POOL.npz`` (images, targets, classes, budget)."""
    base, cfg = params.base, params.generate
    if pool_name not in cfg.pools:
        raise ConfigError(f"pool '{pool_name}' is not in generate.pools {sorted(cfg.pools)}")
    spec = cfg.pools[pool_name]
    seed_everything(base.seed)
    device = resolve_device(base.device)
    train = load_split(paths.prepared("train"))
    model, ckpt = load_generator(paths.chosen_generator(spec.generator), device)
    budget = budget_per_class(train.class_counts(), cfg.ratio, cfg.budget)
    pool = generate_pool(model, budget, train.num_classes, base.seed, labels=spec.labels,
                         gemix=cfg.gemix.model_dump(), device=device)
    save_arrays(paths.pool(pool_name), **pool)
    log.info("%s: %d candidates from %s epoch %d", pool_name, len(pool["classes"]),
             spec.generator, ckpt["epoch"])
    return {"candidates": len(pool["classes"]), "budget": budget.tolist()}
