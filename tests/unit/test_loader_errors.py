"""Each kind of bad input gives one clear message naming file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from ihconform.catalog import load_profile
from ihconform.errors import ConfigError
from ihconform.inventory import load_inventory

MINI = Path(__file__).resolve().parents[1] / "fixtures" / "profiles" / "mini.yaml"

INV = """\
institution: {name: 测试医院}
system: {name: 测试系统}
hosts:
  - id: app01
    address: 198.51.100.20
    roles: [app]
"""


def err(fn, *args) -> ConfigError:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as e:
        fn(*args)
    return e.value


def test_inventory_ok(write):
    inv = load_inventory(write("inv.yaml", INV))
    assert inv.hosts[0].id == "app01" and inv.hosts[0].port == 22


def test_inventory_wrong_type(write):
    e = err(load_inventory, write("inv.yaml", INV + "    port: twenty-two\n"))
    assert e.field == "hosts[0].port" and e.location is not None and e.location.line == 7
    assert "integer" in e.message and "twenty-two" in e.message


def test_inventory_impossible_date(write):
    """A date-shaped value that is no date (found by the loader fuzzer: PyYAML raised a bare
    ValueError, which escaped as a crash)."""
    e = err(load_inventory, write("inv.yaml", INV + "    location: 2026-13-45\n"))
    assert e.location is not None and e.location.line == 7
    assert "2026-13-45" in e.message and "month must be in 1..12" in e.message


def test_inventory_unknown_key(write):
    e = err(load_inventory, write("inv.yaml", INV + "    pasword: hunter2\n"))
    assert e.field == "hosts[0].pasword" and e.location is not None and e.location.line == 7
    assert "unknown key" in e.message


def test_inventory_inline_secret_is_unknown_key(write):
    e = err(load_inventory, write("inv.yaml", INV + "    auth: {password: hunter2}\n"))
    assert e.field == "hosts[0].auth.password"
    assert "hunter2" not in str(e)  # the value is never echoed back


def test_inventory_missing_referenced_file(write):
    e = err(load_inventory, write("inv.yaml", INV + "    auth: {key_file: keys/none}\n"))
    assert "referenced file not found" in e.message and e.field == "hosts.0.auth.key_file"
    assert e.location is not None and e.location.line == 7


def test_inventory_unknown_host_reference(write):
    text = INV + "databases:\n  - {id: d, host: db99, engine: postgresql, port: 5432}\n"
    e = err(load_inventory, write("inv.yaml", text))
    assert "unknown host 'db99'" in e.message and e.location is not None and e.location.line == 8


def test_inventory_duplicate_id(write):
    text = INV + "  - id: app01\n    address: 198.51.100.21\n"
    e = err(load_inventory, write("inv.yaml", text))
    assert "duplicate id 'app01'" in e.message and e.location is not None and e.location.line == 7


def test_inventory_missing_required(write):
    e = err(load_inventory, write("inv.yaml", "system: {name: x}\n"))
    assert e.field == "institution" and "required" in e.message


def test_profile_unknown_profile():
    e = err(load_profile, "no-such-profile")
    assert "unknown profile 'no-such-profile'" in e.message


def test_profile_duplicate_id(write):
    text = MINI.read_text(encoding="utf-8")
    first = text.index("  - id: T-AGEING")
    dup = text + text[first:text.index("  - id: T-PORTS")]
    p = write("dup.yaml", dup)
    e = err(load_profile, p)
    assert "duplicate control id 'T-AGEING'" in e.message
    second = dup.count("\n", 0, dup.rindex("  - id: T-AGEING")) + 1
    assert e.location is not None and e.location.path == p.resolve() and e.location.line == second


def test_profile_include_cycle(write):
    a = write("a.yaml", "profile: {id: pa, title: {zh: 甲, en: A}, version: '1', includes: [b.yaml]}\n")
    write("b.yaml", "profile: {id: pb, title: {zh: 乙, en: B}, version: '1', includes: [a.yaml]}\n")
    e = err(load_profile, a)
    assert "include cycle: a.yaml -> b.yaml -> a.yaml" in e.message


def test_profile_include_missing_file(write):
    a = write("a.yaml", "profile:\n  id: pa\n  title: {zh: 甲, en: A}\n  version: '1'\n  includes: [gone.yaml]\n")
    e = err(load_profile, a)
    assert "not found" in e.message and e.field == "profile.includes[0]"
    assert e.location is not None and e.location.line == 5


def test_profile_override_unknown_parameter(write):
    p = write("t.yaml", f"""profile:
  id: tt
  title: {{zh: 裁剪, en: Tailored}}
  version: '1'
  includes: [{MINI}]
  overrides:
    - control: T-AGEING
      parameters: {{max_dayz: 60}}
      provenance: hospital policy
""")
    e = err(load_profile, p)
    assert "no parameter 'max_dayz'" in e.message and e.location is not None and e.location.line == 8


def test_profile_override_and_exclusion_apply(write):
    p = write("t.yaml", f"""profile:
  id: tt
  title: {{zh: 裁剪, en: Tailored}}
  version: '1'
  includes: [{MINI}]
  overrides:
    - {{control: T-AGEING, parameters: {{max_days: 60}}, provenance: 院内制度 2026-01}}
  exclude:
    - {{control: T-PORTS, reason: 示例}}
""")
    prof = load_profile(p)
    age = prof.control("T-AGEING")
    assert age.param("max_days") == 60 and "院内制度" in age.parameters["max_days"].provenance
    assert prof.excluded == {"T-PORTS": "示例"}
    assert len(prof.sources) == 2


def test_profile_auto_without_probe(write):
    text = MINI.read_text(encoding="utf-8").replace("    probe: servers.count\n", "")
    e = err(load_profile, write("np.yaml", text))
    assert e.field == "controls[0].probe"


def test_profile_bad_severity(write):
    text = MINI.read_text(encoding="utf-8").replace("severity: 关键", "severity: 很重要", 1)
    e = err(load_profile, write("sev.yaml", text))
    assert e.field == "controls[0].severity" and "很重要" in e.message


def test_inventory_text_is_parsed_once_its_files_checked_every_time(write, monkeypatch):
    """The CLI and the plugin both load the inventory: the same text is parsed once, but a
    referenced file that went missing is still refused, and a changed text is parsed again."""
    from ihconform import inventory as inventory_module

    key = write("id_ed25519", "not really a key\n")
    p = write("inv.yaml", INV + f"    auth: {{key_file: {key}}}\n    user: probe\n")
    first = load_inventory(p)
    real = inventory_module.load_yaml
    monkeypatch.setattr(inventory_module, "load_yaml", lambda *a, **k: pytest.fail("parsed again"))
    assert load_inventory(p) == first
    key.unlink()
    assert "referenced file not found" in err(load_inventory, p).message
    monkeypatch.setattr(inventory_module, "load_yaml", real)
    p.write_text(INV.replace("测试系统", "另一系统"), encoding="utf-8")
    assert load_inventory(p).system.name == "另一系统"
