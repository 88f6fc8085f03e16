"""Another commit's source beside this tree's, so one benchmark invocation times "before" and
"after" on one machine state (the lab machine's load moves more between invocations than the
figures being compared).

Why a worktree on ``PYTHONPATH`` and not a second venv: the same interpreter and packages time
only the difference in ihconform's own code; each child process is given the source it runs.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
THIS_TREE = "this tree"


def _entry_point_shim(src: Path) -> None:
    """The venv's ``pytest11`` entry point names ``ihconform.run.plugin`` (since issue 14); an
    older commit's plugin is ``ihconform.plugin``. In the throw-away worktree only, give the old
    source the new name, so the entry point loads its own plugin."""
    if (src / "ihconform" / "run" / "plugin.py").exists() or not (src / "ihconform" / "plugin.py").exists():
        return
    (src / "ihconform" / "run").mkdir()
    (src / "ihconform" / "run" / "__init__.py").write_text("")
    (src / "ihconform" / "run" / "plugin.py").write_text("from ihconform.plugin import *  # noqa: F403\n")


@contextlib.contextmanager
def sources(against: str | None) -> Iterator[dict[str, Path]]:
    """``{label: src folder}``: the older commit first (when ``against`` is given), then this tree.
    The older commit is a detached worktree, removed afterwards."""
    if not against:
        yield {THIS_TREE: REPO / "src"}
        return
    with tempfile.TemporaryDirectory(prefix="ihc-against-") as tmp:
        wt = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(wt), against], check=True)
        try:
            _entry_point_shim(wt / "src")
            yield {against: wt / "src", THIS_TREE: REPO / "src"}
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(wt)], check=False)


def env_for(src: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child that must import ihconform from ``src``."""
    return {**(base if base is not None else os.environ), "PYTHONPATH": str(src)}
