"""The presets in configs/ are complete, valid params files with the keys of params.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from synthaug.core.params import parse_params

ROOT = Path(__file__).resolve().parents[1]
PRESETS = sorted((ROOT / "configs").glob("*.yaml"))
FREE = {"methods", "pools"}  # mappings whose entries are names the user chooses


def keys(node: object, prefix: str = "") -> set[str]:
    """Every dotted key of a params mapping (the entries of ``FREE`` mappings not expanded)."""
    if not isinstance(node, dict):
        return set()
    out = set()
    for k, v in node.items():
        out.add(prefix + k)
        if k not in FREE:
            out |= keys(v, f"{prefix}{k}.")
    return out


def test_every_preset_is_there() -> None:
    assert {p.name for p in PRESETS} >= {"tiny.yaml", "medmnist28.yaml", "medmnist64.yaml",
                                        "histology128.yaml"}


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_preset_is_valid_and_has_the_keys_of_params_yaml(path: Path) -> None:
    preset = yaml.safe_load(path.read_text())
    reference = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert keys(preset) == keys(reference)
    params = parse_params(preset)
    if path.name.startswith(("medmnist", "histology")):
        assert params.base.image_size in (28, 64, 128)
