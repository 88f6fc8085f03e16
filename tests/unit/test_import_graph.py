"""The package's import graph has no circle.

Why: a circle (``plugin`` ↔ ``engine`` ↔ ``distribute`` until issue 14) is held together by
function-local and ``TYPE_CHECKING`` imports that hide it from the interpreter but not from the
reader: neither side can be understood, tested or moved without the other. The walk reads the
source with ``ast`` (no import is executed) and counts every import: module level, inside
``if TYPE_CHECKING:``, and inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "ihconform"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path = SRC) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted((root / PACKAGE).rglob("*.py"))}


def _resolve(node: ast.ImportFrom, here: str, is_pkg: bool) -> str:
    if not node.level:
        return node.module or ""
    base = here.split(".") if is_pkg else here.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every package module ``name`` imports, wherever the import statement stands."""
    out: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = _resolve(node, name, path.name == "__init__.py")
            # ``from pkg import sub`` imports the submodule when there is one, else a name of pkg
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        else:
            continue
        out.update(t for t in targets if t in known and t != name)
    return out


def graph(root: Path = SRC) -> dict[str, set[str]]:
    mods = modules(root)
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp: list[str] = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def test_package_import_graph_has_no_circle() -> None:
    found = cycles(graph())
    assert not found, "import circles: " + "; ".join(" ↔ ".join(c) for c in found)


def test_walk_sees_function_local_and_type_checking_imports(tmp_path: Path) -> None:
    """The walk would catch the circle issue 14 found: one side imports at module level, the other
    only under ``TYPE_CHECKING`` or inside a function."""
    pkg = tmp_path / PACKAGE
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from ihconform import b\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import X\n")
    (pkg / "c.py").write_text("def f():\n    from ihconform.a import g\n")
    (pkg / "d.py").write_text("import ihconform.a\n")
    g = graph(tmp_path)
    assert g["ihconform.a"] == {"ihconform.b"} and g["ihconform.b"] == {"ihconform.c"}
    assert g["ihconform.c"] == {"ihconform.a"} and g["ihconform.d"] == {"ihconform.a"}
    assert cycles(g) == [["ihconform.a", "ihconform.b", "ihconform.c"]]
    (pkg / "c.py").write_text("def f():\n    return 1\n")
    assert cycles(graph(tmp_path)) == []


@pytest.mark.parametrize("name", ["ihconform.run.plugin", "ihconform.run.state"])
def test_run_wing_is_in_the_graph(name: str) -> None:
    """The walk reads the real package (a renamed folder would make the main test vacuous)."""
    assert name in graph()


def test_paramiko_loads_without_invoke_and_invoke_stays_importable() -> None:
    """transport/ssh.py keeps invoke (with asyncio and unittest.mock, about 0.1 s of CPU) out while
    paramiko loads; SSH and device sessions still load, and invoke imports normally afterwards."""
    assert _fresh_python("import sys; import ihconform.transport.ssh as s; import netmiko; "
                         "gone = [m for m in ('invoke', 'asyncio', 'unittest.mock') if m in sys.modules]; "
                         "import invoke, paramiko; "
                         "print(gone, s.paramiko.Transport is paramiko.Transport, invoke.__name__)"
                         ) == ["[]", "True", "invoke"]


def test_the_cli_starts_gathering_before_pytest_is_imported() -> None:
    """cli.py reaches ``early_facts`` (the hosts are asked) with pytest not yet imported: its
    import (about 0.2 s) then runs while the hosts answer (run/launch.py: ``execute``). That
    includes reading what the planned probes need (``facts_needed`` imports their modules:
    none of them imports pytest; their fixtures are the plugin's)."""
    assert _fresh_python("import sys; import ihconform.cli as c; before = '_pytest' in sys.modules; "
                         "import ihconform.run.launch as l; from ihconform.registry import PROBES, probe_function; "
                         "[probe_function(p) for p in PROBES]; "
                         "print(before, c.early_facts is l.early_facts, '_pytest' in sys.modules)"
                         ) == ["False", "True", "False"]


def _fresh_python(code: str) -> list[str]:
    """The words ``code`` prints in a new interpreter (this one has imported everything already)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()
