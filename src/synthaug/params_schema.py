"""Print the JSON schema of ``params.yaml``: ``python -m synthaug.params_schema``.

Editors check ``params.yaml`` against it while you type: write it once with
``python -m synthaug.params_schema > params.schema.json`` and point the editor at it
(VS Code's YAML extension: ``# yaml-language-server: $schema=params.schema.json`` as the
first line of ``params.yaml``). Rules between keys (pools used by methods, ...) are only in
:mod:`synthaug.core.params`, which every stage runs first.
"""

from __future__ import annotations

import json

from .core.params import Params


def params_schema() -> dict:
    """The JSON schema (draft 2020-12) of ``params.yaml``: sections, keys, types, ranges, defaults."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            **Params.model_json_schema(mode="validation")}


if __name__ == "__main__":
    print(json.dumps(params_schema(), indent=2))
