"""network_devices: in the inventory (issue 15): reached online or judged from a file, never
neither; a missing configuration file or an unknown jump host is a usage error naming the line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ihconform.errors import ConfigError
from ihconform.inventory import load_inventory, objects
from ihconform.profile import ObjectType

BASE = {"institution": {"name": "t"}, "system": {"name": "t"}}


def _write(tmp_path: Path, devices: list[dict[str, object]]) -> Path:
    p = tmp_path / "inventory.yaml"
    p.write_text(yaml.safe_dump({**BASE, "network_devices": devices}, allow_unicode=True))
    return p


def test_devices_are_objects_like_hosts(tmp_path: Path) -> None:
    (tmp_path / "fw1.cfg").write_text("return\n")
    inv = load_inventory(_write(tmp_path, [
        {"id": "core1", "platform": "huawei_vrp", "address": "198.51.100.2", "roles": ["core"]},
        {"id": "fw1", "platform": "huawei_usg", "config_file": "fw1.cfg", "roles": ["firewall"]}]))
    devs = [o for o in objects(inv) if o.type is ObjectType.NETWORK_DEVICE]
    assert [(o.id, o.label) for o in devs] == [("core1", "core1 (huawei_vrp 198.51.100.2:22)"),
                                              ("fw1", "fw1 (huawei_usg config fw1.cfg)")]
    assert inv.network_devices[1].config_file == tmp_path / "fw1.cfg"  # resolved beside the inventory


@pytest.mark.parametrize(("device", "message"), [
    ({"id": "x", "platform": "cisco_ios"}, r"address \(online\) or a config_file"),
    ({"id": "x", "platform": "cisco_ios", "config_file": "missing.cfg"}, "referenced file not found"),
    ({"id": "x", "platform": "cisco_ios", "address": "198.51.100.2", "jump": "nobody"}, "jump host"),
    ({"id": "x", "platform": "juniper_junos", "address": "198.51.100.2"}, "platform"),
    ({"id": "x", "platform": "cisco_ios", "address": "198.51.100.2", "password": "secret"}, "password"),
])
def test_a_bad_device_is_refused(tmp_path: Path, device: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_inventory(_write(tmp_path, [device]))


def test_duplicate_device_ids_are_refused(tmp_path: Path) -> None:
    d = {"id": "x", "platform": "cisco_ios", "address": "198.51.100.2"}
    with pytest.raises(ConfigError, match="duplicate id"):
        load_inventory(_write(tmp_path, [d, d]))
