"""The inventory declares every engine hospitals run; an unknown one is refused with the list."""

from __future__ import annotations

import pytest

from ihconform.cli import main
from ihconform.errors import ConfigError
from ihconform.inventory import load_inventory

INV = """\
institution: {{name: 测试医院}}
system: {{name: HIS}}
hosts:
  - id: db01
    address: 198.51.100.10
    roles: [db]
databases:
  - {{id: d1, host: db01, engine: {engine}, port: 1521, username_env: DB_RO_USER, password_env: DB_RO_PASSWORD}}
"""
KNOWN = ("postgresql", "mysql", "mariadb", "oracle", "sqlserver", "dm", "kingbase")


@pytest.mark.parametrize("engine", KNOWN)
def test_each_engine_accepted(write, engine: str) -> None:  # type: ignore[no-untyped-def]
    inv = load_inventory(write("inv.yaml", INV.format(engine=engine)))
    assert inv.databases[0].engine == engine and inv.databases[0].password_env == "DB_RO_PASSWORD"


def test_unknown_engine_lists_the_known_ones(write) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as e:
        load_inventory(write("inv.yaml", INV.format(engine="db2")))
    assert e.value.field == "databases[0].engine" and e.value.location is not None
    for engine in KNOWN:
        assert f"'{engine}'" in e.value.message


def test_validate_command_refuses_unknown_engine(write, capsys) -> None:  # type: ignore[no-untyped-def]
    path = write("inv.yaml", INV.format(engine="informix"))
    code = main(["validate", "--inventory", str(path)])
    out = capsys.readouterr()
    assert code != 0
    text = out.out + out.err
    assert "informix" in text and "'oracle'" in text and "'sqlserver'" in text and "'kingbase'" in text
