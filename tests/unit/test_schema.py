"""The published results schema is the one the model generates."""

from __future__ import annotations

from ihconform.schema import render, schema_path


def test_published_schema_is_current(update_golden):
    if update_golden:
        schema_path().write_text(render(), encoding="utf-8")
    assert schema_path().read_text(encoding="utf-8") == render(), "run pytest --update-golden to regenerate"
