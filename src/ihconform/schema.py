"""The published JSON Schema of results.json, generated from the results model.

The committed file ``ihconform/schemas/results.schema.json`` must equal what this module
generates; ``tests/unit/test_schema.py`` enforces it (``IHC_UPDATE_GOLDEN=1`` rewrites it).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from ihconform.results import SCHEMA_VERSION, RunResult

SCHEMA_ID = f"https://ihconform.invalid/schemas/results-{SCHEMA_VERSION}.json"


def results_schema() -> dict[str, Any]:
    schema = RunResult.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "ihconform results", **schema}


def schema_path() -> Path:
    return Path(str(resources.files("ihconform") / "schemas" / "results.schema.json"))


def render() -> str:
    return json.dumps(results_schema(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def validate_results(data: Any) -> None:
    """Raise jsonschema.ValidationError if ``data`` does not match the published schema."""
    import jsonschema

    schema = json.loads(schema_path().read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)
