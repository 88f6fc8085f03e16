"""The lab's login.defs puts in force what the baseline claims, read the way the system reads it.

Debian's login.defs explains ``PASS_MAX_DAYS`` in a comment *before* its active
``PASS_MAX_DAYS 99999``; shadow-utils (``getdef.c`` ``def_load``) skips comments and lets a
later uncommented line replace an earlier one. An edit of the comment leaves 99999 in force.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ihconform.facts.host import kv
from ihconform.lab import baseline

REAL = Path("/etc/login.defs")
#: Debian 12's layout, shortened: the explanation comment, then the stock values.
DEBIAN = ("#\n# Password aging controls:\n#\n#\tPASS_MAX_DAYS\tMaximum number of days a password may be used.\n"
          "#\tPASS_MIN_DAYS\tMinimum number of days allowed between password changes.\n#\n"
          "PASS_MAX_DAYS\t99999\nPASS_MIN_DAYS\t0\nPASS_WARN_AGE\t7\n#ENCRYPT_METHOD SHA512\nUMASK\t\t022\n")


def getdef(text: str) -> dict[str, str]:
    """login.defs as shadow-utils' def_load reads it: first field the name, the rest (after
    blanks and a quote, up to a quote) the value, comments and one-field lines skipped, and a
    later line replacing an earlier one."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.rstrip().lstrip(" \t")
        if not line or line.startswith("#"):
            continue
        name, sep, rest = line.replace("\t", " ").partition(" ")
        if not sep:
            continue
        out[name] = rest.lstrip(' "').split('"', 1)[0]
    return out


@pytest.mark.parametrize("real", [DEBIAN, REAL.read_text() if REAL.exists() else DEBIAN])
def test_every_key_the_baseline_claims_is_in_force(real: str) -> None:
    out = baseline.login_defs(real)
    read = getdef(out)
    for key, value in baseline.LOGIN_DEFS:
        assert read[key] == value, (key, read.get(key))
    assert all(kv(out)[k] == v for k, v in baseline.LOGIN_DEFS)  # the probe's reader (HostView.login_defs)
    # the explanation comments are left alone
    assert "#\tPASS_MAX_DAYS\tMaximum number of days a password may be used." in out


def test_the_old_edit_left_the_stock_value_in_force() -> None:
    # what the comment-line edit produced: the comment replaced, the stock line kept
    old = DEBIAN.replace("#\tPASS_MAX_DAYS\tMaximum number of days a password may be used.", "PASS_MAX_DAYS\t90")
    assert getdef(old)["PASS_MAX_DAYS"] == "99999"


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("useradd") is None, reason="needs root and useradd")
def test_shadow_utils_itself_applies_the_values(tmp_path: Path) -> None:
    """useradd --prefix reads <prefix>/etc/login.defs and writes the new account's ageing into
    <prefix>/etc/shadow: the values shadow-utils really applies, nothing outside tmp_path."""
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "login.defs").write_text(baseline.login_defs(REAL.read_text() if REAL.exists() else DEBIAN))
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (etc / "shadow").write_text("root:*:20000:0:99999:7:::\n")
    (etc / "group").write_text("root:x:0:\n")
    (etc / "gshadow").write_text("root:*::\n")
    subprocess.run(["useradd", "--prefix", str(tmp_path), "-M", "-s", "/usr/sbin/nologin", "ihdefs"],
                   check=True, capture_output=True, timeout=30)
    entry = next(ln for ln in (etc / "shadow").read_text().splitlines() if ln.startswith("ihdefs:"))
    f = entry.split(":")
    assert (f[3], f[4], f[5]) == ("1", "90", "7")  # min, max, warn
