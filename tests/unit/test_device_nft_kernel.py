"""The nftables rule sets judged as the kernel gives them back (issue 15): each fixture is loaded
into a private, throw-away network namespace with the real ``nft`` and read back with
``nft list ruleset``, the command the collector sends; the verdicts on that real listing are the
ones the golden file holds for the fixture. Needs root and nft (the CI machine has both)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.test_device_configs import DEVICE_CONTROLS, FIXTURES, GOLDEN, _device, judge

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("unshare") is None,
                                reason="needs root, nft and unshare (a private network namespace)")


def _kernel_listing(rules: Path) -> str:
    """Load ``rules`` into a new network namespace and list it back; the namespace dies with sh."""
    proc = subprocess.run(["unshare", "--net", "sh", "-c", 'nft -f "$1" && nft list ruleset', "sh", str(rules)],
                          capture_output=True, text=True, timeout=30, check=True)
    return proc.stdout


@pytest.mark.parametrize("name", ["linux_nftables-hardened", "linux_nftables-unhardened"])
def test_kernel_listing_gives_the_golden_verdicts(name: str, tmp_path: Path) -> None:
    listing = _kernel_listing(FIXTURES / f"{name}.nft")
    assert "policy" in listing and "chain forward" in listing
    path = tmp_path / f"{name}.nft"
    path.write_text(listing)
    dev = _device(path)
    got = {c.id: judge(c, dev).verdict.status.value for c in DEVICE_CONTROLS}  # type: ignore[union-attr]
    assert got == json.loads(GOLDEN.read_text())[name]


def test_a_forward_chain_without_policy_accepts(tmp_path: Path) -> None:
    """nft(8): a base chain without a policy accepts; the kernel's listing shows ``policy accept``."""
    rules = tmp_path / "r.nft"
    rules.write_text("table ip f {\n chain through {\n  type filter hook forward priority 0;\n"
                     "  ip daddr 198.51.100.20 tcp dport 443 accept\n }\n}\n")
    listing = _kernel_listing(rules)
    path = tmp_path / "linux_nftables-x.nft"
    path.write_text(listing)
    deny = next(c for c in DEVICE_CONTROLS if c.probe == "device.default_deny")
    v = judge(deny, _device(path)).verdict
    # decisive (T/ISEAA 001-2020 8.1.3.2 a)): a boundary filter that permits by default is 不符合
    assert v is not None and v.status.value == "fail" and v.observed["not_deny_by_default"] == ["ip f through"]


def test_a_hosts_own_input_firewall_is_no_any_any(tmp_path: Path) -> None:
    """The lab hosts' baseline input chain (found by the lab run): ``meta l4proto { icmp,
    ipv6-icmp } accept`` names its protocols, so it is neither an any-any permit nor a shadow."""
    rules = tmp_path / "r.nft"
    rules.write_text("table inet filter {\n chain input {\n  type filter hook input priority filter; policy drop;\n"
                     '  iif "lo" accept\n  ct state established,related accept\n  ct state invalid drop\n'
                     "  meta l4proto { icmp, ipv6-icmp } accept\n  ip saddr 198.51.100.0/25 tcp dport 22 accept\n"
                     " }\n}\n")
    path = tmp_path / "linux_nftables-host.nft"
    path.write_text(_kernel_listing(rules))
    v = judge(next(c for c in DEVICE_CONTROLS if c.probe == "device.rule_set"), _device(path)).verdict
    assert v is not None and v.status.value == "pass", v
