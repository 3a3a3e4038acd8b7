"""A cut-down tiny configuration for the robustness tests: one generator, three methods.

configs/tiny.yaml grows with every method; these tests need only a consistent, small
set (every pool used, every generator kind used) that does not change under them.
"""

from __future__ import annotations

import copy

from conftest import tiny_params

ONEHOT = {"generator": "cgan", "labels": "onehot"}
METHODS = {
    "baseline": {"pool": "none", "filter": "all", "transform": "none", "mixing": "none"},
    "traditional": {"pool": "none", "filter": "all", "transform": "traditional", "mixing": "none"},
    "gan_selective": {"pool": "cgan", "filter": "selective", "transform": "none", "mixing": "none"},
}


def mini_params(**overrides: dict) -> dict:
    """configs/tiny.yaml with only the cGAN, pool ``cgan`` and METHODS; then ``overrides``."""
    params = tiny_params(train_gan={"kinds": ["cgan"]}, generate={"pools": {"cgan": ONEHOT}},
                         train_classifier={"methods": METHODS}, evaluate={"comparisons": []})
    for section, values in overrides.items():
        params[section].update(values)
    return params


def with_key(params: dict, dotted: str, value: object) -> dict:
    """A deep copy of ``params`` with the nested key ``a.b.c`` set to ``value``."""
    out = copy.deepcopy(params)
    *parents, last = dotted.split(".")
    node = out
    for k in parents:
        node = node[k]
    node[last] = value
    return out
