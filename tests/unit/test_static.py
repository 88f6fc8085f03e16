"""The gates the style guide sets: mypy strict on the package, ruff on code and tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize("tool", [["mypy"], ["ruff", "check", "src", "tests", "bench"]], ids=["mypy", "ruff"])
def test_static_gate(tool: list[str]) -> None:
    exe = BIN / tool[0] if (BIN / tool[0]).exists() else shutil.which(tool[0])
    assert exe, f"{tool[0]} is not installed (pip install -e '.[test]')"
    proc = subprocess.run([str(exe), *tool[1:]], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
