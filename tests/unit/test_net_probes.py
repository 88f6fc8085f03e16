"""Probe-side helpers of the network probes that run commands on hosts: quoting and inputs."""

from __future__ import annotations

import shlex

import pytest

from ihconform.errors import FactUnavailable
from ihconform.probes.platform import curl_over_line
from ihconform.probes.uplink import _address_of


def test_platform_curl_is_bound_pinned_and_quoted() -> None:
    cmd = curl_over_line("https://platform.lab/", "198.51.100.225", "dl0", 10, with_ca=False)
    argv = shlex.split(cmd)
    assert argv[0] == "curl" and argv[-1] == "https://platform.lab/"
    assert argv[argv.index("--resolve") + 1] == "platform.lab:443:198.51.100.225"
    assert argv[argv.index("--interface") + 1] == "dl0"
    evil = curl_over_line("https://p.lab/$(id)", "198.51.100.225", "dl0; reboot", 10, with_ca=True)
    assert evil.startswith('f=$(mktemp) && cat > "$f" && curl ') and evil.endswith('rm -f "$f"; exit $rc')
    assert "'dl0; reboot'" in evil and "'https://p.lab/$(id)'" in evil
    assert '--cacert "$f"' in evil


def test_uplink_server_must_be_a_literal_address() -> None:
    assert _address_of("http://198.51.100.200/speedtest/") == "198.51.100.200"
    assert _address_of("198.51.100.200") == "198.51.100.200"
    with pytest.raises(FactUnavailable, match="literal address"):
        _address_of("http://speedtest.lab/")
