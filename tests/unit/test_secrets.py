"""Secret files: private or refused; env files parsed precisely, never overriding the environment;
a secret named by an environment variable: its value, or an error naming the variable only."""

from __future__ import annotations

import os

import pytest

from ihconform.errors import ConfigError, FactUnavailable
from ihconform.secrets import apply_env_file, env_secret, parse_env_file


def test_env_file_is_parsed_and_does_not_override(tmp_path, monkeypatch):
    f = tmp_path / "site.env"
    f.write_text("# comment\nIHC_T_USER=alice\nexport IHC_T_PASS='p@ss word'\n\nIHC_T_SET=from-file\n")
    f.chmod(0o600)
    monkeypatch.setenv("IHC_T_SET", "from-env")
    monkeypatch.delenv("IHC_T_USER", raising=False)
    monkeypatch.delenv("IHC_T_PASS", raising=False)
    assert parse_env_file(f) == {"IHC_T_USER": "alice", "IHC_T_PASS": "p@ss word", "IHC_T_SET": "from-file"}
    assert sorted(apply_env_file(f)) == ["IHC_T_PASS", "IHC_T_USER"]
    assert os.environ["IHC_T_SET"] == "from-env" and os.environ["IHC_T_PASS"] == "p@ss word"


def test_env_file_readable_by_others_is_refused(tmp_path):
    f = tmp_path / "site.env"
    f.write_text("A=1\n")
    f.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        parse_env_file(f)


def test_env_file_bad_line_names_the_line(tmp_path):
    f = tmp_path / "site.env"
    f.write_text("A=1\nthis is not an assignment\n")
    f.chmod(0o600)
    with pytest.raises(ConfigError) as e:
        parse_env_file(f)
    assert e.value.location is not None and e.value.location.line == 2
    assert "this is not" not in str(e.value)  # the line may hold a secret: never echoed


def test_env_secret_is_the_value_or_names_the_unset_variable(monkeypatch):
    monkeypatch.setenv("IHC_T_SECRET", "Planted-S3cret")
    assert env_secret("IHC_T_SECRET", "BMC b1 password") == "Planted-S3cret"
    monkeypatch.delenv("IHC_T_SECRET")
    with pytest.raises(FactUnavailable) as info:
        env_secret("IHC_T_SECRET", "BMC b1 password")
    assert str(info.value) == "BMC b1 password: environment variable IHC_T_SECRET is not set"
