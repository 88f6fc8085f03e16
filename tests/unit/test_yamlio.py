"""The YAML loader names file, line and field, and refuses what safe_load would accept silently."""

from __future__ import annotations

import pytest

from ihconform.errors import ConfigError
from ihconform.yamlio import load_yaml


def test_duplicate_key_is_rejected_with_both_lines(write):
    p = write("a.yaml", "hosts:\n  - id: a\n    port: 22\n    port: 23\n")
    with pytest.raises(ConfigError) as e:
        load_yaml(p)
    assert e.value.location is not None and e.value.location.line == 4
    assert "duplicate key 'port'" in e.value.message and "line 3" in e.value.message
    assert e.value.field == "hosts[0].port"


def test_syntax_error_points_at_line(write):
    p = write("b.yaml", "a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(ConfigError) as e:
        load_yaml(p)
    assert "YAML syntax error" in e.value.message
    assert e.value.location is not None and e.value.location.line >= 2


def test_alias_bomb_is_refused(write):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        refs = ", ".join([f"*{prev}"] * 10)
        lines.append(f"{cur}: &{cur} [{refs}]")
    p = write("bomb.yaml", "\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match="alias bomb"):
        load_yaml(p)


def test_marks_record_every_path(write):
    p = write("c.yaml", "x:\n  y:\n    - 1\n    - z: 2\n")
    doc = load_yaml(p)
    assert doc.marks[("x", "y", 1, "z")][0] == 4
    assert doc.location(("x", "y", 1, "z", "missing")).line == 4


def test_missing_file_and_bad_utf8(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_yaml(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"a: \xff\xfe\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_yaml(bad)


def test_empty_and_bool_keys(write):
    with pytest.raises(ConfigError, match="empty"):
        load_yaml(write("e.yaml", "# nothing\n"))
    with pytest.raises(ConfigError, match="quote it"):
        load_yaml(write("k.yaml", "yes: 1\n"))


def test_python_tags_are_not_constructed(write):
    with pytest.raises(ConfigError):
        load_yaml(write("t.yaml", "a: !!python/object/apply:os.system ['true']\n"))


def test_packaged_files_read_the_same_through_libyaml(monkeypatch):
    """The built-in profiles go through libyaml's composer (speed); data and every mark must be
    exactly what the hardened pure-Python loader gives (composed now, not read from the cache)."""
    from ihconform.catalog import builtin_profiles

    monkeypatch.setenv("IHCONFORM_NO_CACHE", "1")
    for path in builtin_profiles().values():
        text = path.read_text(encoding="utf-8")
        fast, slow = load_yaml(path, text, packaged=True), load_yaml(path, text)
        assert fast.data == slow.data
        assert fast.marks == slow.marks


@pytest.mark.parametrize("key", ["2026-13-45", "2026-02-30", "9999-99-99 25:61:61"])
def test_date_like_key_that_is_no_date_names_file_and_line(write, key):
    # found by test_fuzz_loaders (a mutation put the snippet before a colon); pinned here
    p = write("k.yaml", f"a: 1\n{key}: x\n")
    with pytest.raises(ConfigError) as e:
        load_yaml(p)
    assert e.value.location is not None and e.value.location.line == 2
    assert key.split()[0] in e.value.message and "quote it" in e.value.message


def test_valid_date_key_is_read_as_its_text(write):
    assert load_yaml(write("k.yaml", "2026-10-08: x\n")).data == {"2026-10-08": "x"}
