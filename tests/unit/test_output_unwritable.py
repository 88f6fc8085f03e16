"""A run whose output cannot be created at all (before any probe runs) exits 74 with one
message and leaves nothing behind; the disk filling up later is an integration scenario
(tests/integration/test_faults_host.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ihconform.results import ExitCode

IHCONFORM = str(Path(sys.executable).with_name("ihconform"))


def test_output_under_a_file_exits_74_with_one_message(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    proc = subprocess.run([IHCONFORM, "run", "-q", "--formats", "json", "--only", "probe:servers.",
                           "-o", str(blocker / "out")], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == ExitCode.OUTPUT_ERROR, proc.stderr[-2000:]
    assert "cannot write the run folder" in proc.stderr
    assert "Traceback" not in proc.stderr and "INTERNALERROR" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]
