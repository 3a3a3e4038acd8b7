"""The params models: one source of defaults, strict types, the JSON schema (issue 12, item 1).

The error wording for every bad key and value is tested in test_bad_input.py.
"""

from __future__ import annotations

import json
import operator
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT, project_env
from minimal import mini_params, with_key
from pydantic import ValidationError

from synthaug.core.errors import ConfigError
from synthaug.core.params import Params, Schedule, load_params, parse_params
from synthaug.params_schema import params_schema

CONFIGS = [ROOT / "params.yaml", *sorted((ROOT / "configs").glob("*.yaml"))]
SECTIONS = list(Params.model_fields)


def test_defaults_are_params_yaml():
    """Params() is the default study: every key of params.yaml, and no other, at its default."""
    assert Params().model_dump() == yaml.safe_load((ROOT / "params.yaml").read_text())
    assert load_params(ROOT / "params.yaml") == Params()


def given(data: object, parsed: object) -> object:
    """The part of ``parsed`` that ``data`` spells out (keys it leaves out take defaults)."""
    if isinstance(data, dict):
        return {k: given(v, parsed[k]) for k, v in data.items()}
    return parsed


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_is_valid(path):
    data = yaml.safe_load(path.read_text())
    assert given(data, parse_params(data).model_dump()) == data  # nothing dropped or converted


def test_types_are_strict_but_an_int_is_a_float():
    params = parse_params(mini_params(generate={"ratio": 1}))
    assert params.generate.ratio == 1.0 and isinstance(params.generate.ratio, float)
    for bad in ("1", True, None):  # a string, a bool and null are not numbers
        with pytest.raises(ConfigError, match="'generate.ratio'"):
            parse_params(mini_params(generate={"ratio": bad}))


def test_models_are_frozen_and_check_direct_construction():
    params = parse_params(mini_params())
    with pytest.raises(ValidationError):
        params.generate.ratio = 2.0  # type: ignore[misc]
    with pytest.raises(ValidationError, match="warmup_epochs"):
        Schedule(epochs=2, warmup_epochs=2)
    assert Schedule(epochs=2, warmup_epochs=1).lr_factor(0, 10) == pytest.approx(0.1)


def test_every_error_is_reported_at_once():
    data = mini_params(base={"seed": "0"}, generate={"ratio": -1.0, "gemix_alpha": 0.4})
    lines = str(pytest.raises(ConfigError, parse_params, data).value).splitlines()
    assert len(lines) == 3
    assert any("'base.seed' = '0' has the wrong type: expected int" in m for m in lines)
    assert any("'generate.ratio' = -1.0 is not allowed: > 0" in m for m in lines)
    assert any("'generate.gemix_alpha' (did you mean 'generate.gemix'?)" in m for m in lines)


def test_union_errors_name_the_telling_member():
    def msg(cap: object) -> str:
        return str(pytest.raises(ConfigError, parse_params,
                                 mini_params(prepare_data={"train_cap": cap})).value)
    assert msg([5, "a"]) == ("params key 'prepare_data.train_cap[1]' = 'a' has the wrong type: "
                             "expected int")
    assert msg("a").endswith("expected int or a list of int or null")
    assert msg([5, 0]).endswith("'prepare_data.train_cap[1]' = 0 is not allowed: >= 1")


def test_an_empty_section_is_an_error_not_the_defaults():
    data = mini_params()
    data["select_checkpoint"] = None  # `select_checkpoint:` with every key commented out
    with pytest.raises(ConfigError, match="'select_checkpoint' = None has the wrong type: "
                                          "expected a mapping"):
        parse_params(data)


# --------------------------------------------------------------------------- JSON schema

_TYPES = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float),
          "boolean": bool, "null": type(None)}
_BOUNDS = {"minimum": operator.ge, "exclusiveMinimum": operator.gt, "maximum": operator.le,
           "exclusiveMaximum": operator.lt}


def schema_errors(value: object, node: dict, root: dict, at: str = "") -> list[str]:
    """The JSON-schema keywords the params schema uses, checked (jsonschema is not a dependency)."""
    if "$ref" in node:
        node = root["$defs"][node["$ref"].rpartition("/")[2]]
    if "anyOf" in node:
        branches = [schema_errors(value, b, root, at) for b in node["anyOf"]]
        return [] if [] in branches else [f"{at}: {value!r} matches no branch"]
    kind = node.get("type")
    if kind and (not isinstance(value, _TYPES[kind])
                 or (isinstance(value, bool) and kind in ("integer", "number"))):
        return [f"{at}: {value!r} is not {kind}"]
    errors = [f"{at}: {value!r} not in enum"] if value not in node.get("enum", [value]) else []
    errors += [f"{at}: {value!r} fails {k}" for k, op in _BOUNDS.items()
               if k in node and not op(value, node[k])]
    if "multipleOf" in node and value % node["multipleOf"]:
        errors.append(f"{at}: {value!r} is not a multiple of {node['multipleOf']}")
    if isinstance(value, list):
        if len(value) < node.get("minItems", 0) or (node.get("uniqueItems")
                                                    and len(set(map(str, value))) < len(value)):
            errors.append(f"{at}: {value!r} is too short or repeats")
        for i, item in enumerate(value):
            errors += schema_errors(item, node.get("items", {}), root, f"{at}[{i}]")
    if isinstance(value, dict):
        if len(value) < node.get("minProperties", 0):
            errors.append(f"{at}: empty mapping")
        for k, item in value.items():
            sub = node.get("properties", {}).get(k, node.get("additionalProperties", True))
            if sub is False:
                errors.append(f"{at}.{k}: unknown key")
            elif isinstance(sub, dict):
                errors += schema_errors(item, sub, root, f"{at}.{k}")
    return errors


def test_schema_command_prints_the_schema_of_every_section():
    proc = subprocess.run([sys.executable, "-m", "synthaug.params_schema"], cwd=ROOT,
                          env=project_env(), capture_output=True, text=True, check=True)
    schema = json.loads(proc.stdout)
    assert schema == json.loads(json.dumps(params_schema()))
    assert schema["$schema"].endswith("2020-12/schema") and schema["additionalProperties"] is False
    assert list(schema["properties"]) == SECTIONS
    for name, model in Params.model_fields.items():  # every key of every section
        section = schema["$defs"][schema["properties"][name]["$ref"].rpartition("/")[2]]
        assert list(section["properties"]) == list(model.annotation.model_fields), name
        assert section["additionalProperties"] is False and section["description"]


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_validate_against_the_schema(path):
    schema = params_schema()
    assert schema_errors(yaml.safe_load(path.read_text()), schema, schema) == []


@pytest.mark.parametrize(("key", "value", "error"), [
    ("base.image_size", 10, "not in enum"), ("base.sede", 0, "unknown key"),
    ("generate.ratio", 0, "fails exclusiveMinimum"), ("base.device", "gpu", "not in enum"),
    ("train_gan.cgan.diffaug", 1, "is not boolean"), ("prepare_data.train_cap", [], "no branch"),
    ("train_classifier.methods.baseline.filter", "best", "not in enum"),
    ("train_gan.kinds", ["cgan", "cgan"], "repeats"), ("evaluate.positive_class", 1.5, "no branch"),
])
def test_schema_rejects_what_the_models_reject(key, value, error):
    data = with_key(yaml.safe_load((ROOT / "params.yaml").read_text()), key, value)
    schema = params_schema()
    assert any(error in e for e in schema_errors(data, schema, schema)), key
    with pytest.raises(ConfigError):
        parse_params(data)
