"""CLI behaviour: exit codes, nothing written on bad input, the embedded default, init."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ihconform.inventory import load_inventory
from ihconform.schema import validate_results

from ..conftest import FIXTURES, ROOT

BAD_INPUTS = {
    "syntax": ("inventory", "institution: {name: x\nsystem: {name: y}\n", "YAML syntax error"),
    "wrong-type": ("inventory", "institution: {name: x}\nsystem: {name: y}\nhosts:\n  - {id: a, address: h, port: x}\n",
                   "hosts[0].port"),
    "unknown-key": ("inventory", "institution: {name: x}\nsystem: {name: y}\nhostz: []\n", "hostz: unknown key"),
    "missing-file": ("inventory", "institution: {name: x}\nsystem: {name: y}\nevidence: {waivers: w.yaml}\n",
                     "referenced file not found"),
    "duplicate-id": ("inventory", "institution: {name: x}\nsystem: {name: y}\nhosts:\n  - {id: a, address: h}\n"
                     "  - {id: a, address: i}\n", "duplicate id 'a'"),
    "include-cycle": ("profile", "profile: {id: cy, title: {zh: 环, en: C}, version: '1', includes: [p.yaml]}\n",
                      "include cycle"),
    "unknown-profile": ("profile-id", "no-such-profile", "unknown profile"),
}


MINI = FIXTURES / "profiles" / "mini.yaml"
FAST = ("run", "-q", "--formats", "json,junit")  # the report renderers have their own tests


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ihconform.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=180, check=False)


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_exits_2_and_writes_nothing(case, tmp_path):
    kind, text, expect = BAD_INPUTS[case]
    out = tmp_path / "reports"
    args = ["run", "-o", str(out)]
    if kind == "inventory":
        p = tmp_path / "inv.yaml"
        p.write_text(text, encoding="utf-8")
        args += ["-i", str(p), "-p", str(FIXTURES / "profiles" / "mini.yaml")]
    elif kind == "profile":
        p = tmp_path / "p.yaml"
        p.write_text(text, encoding="utf-8")
        args += ["-p", str(p)]
    else:
        args += ["-p", text]
    proc = run_cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert expect in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not out.exists()


def test_embedded_default_runs_locally(tmp_path):
    out = tmp_path / "reports"
    proc = run_cli(*FAST, "-p", str(MINI), "-o", str(out))
    assert proc.returncode in (1, 3), proc.stderr
    (folder,) = list(out.iterdir())
    data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    validate_results(data)
    assert {c["control_id"] for c in data["controls"]} == {"T-SERVERS", "T-AGEING", "T-PORTS", "T-AV", "T-TLS"}
    servers = next(c for c in data["controls"] if c["control_id"] == "T-SERVERS")
    assert servers["status"] == "fail"  # one machine is not two servers
    transcript = json.loads(next(folder.glob("evidence/hosts/*/transcript.json")).read_text())
    assert transcript["round_trips"] == 1 and transcript["commands"]
    assert "结论 / result" in proc.stdout


def test_existing_output_is_never_overwritten(tmp_path):
    out = tmp_path / "reports"
    first = run_cli(*FAST, "-p", str(MINI), "-o", str(out))
    second = run_cli(*FAST, "-p", str(MINI), "-o", str(out))
    assert first.returncode in (1, 3) and second.returncode in (1, 3)
    assert len(list(out.iterdir())) == 2  # each run has its own folder
    assert not list(out.glob("*.partial"))


def test_init_writes_a_template_that_validates(tmp_path):
    target = tmp_path / "site.yaml"
    assert run_cli("init", str(target)).returncode == 0
    inv = load_inventory(target)
    assert len(inv.hosts) == 3 and inv.hosts[0].jump == "bastion"
    assert "清单" in target.read_text(encoding="utf-8") and "inventory" in target.read_text(encoding="utf-8")
    assert run_cli("init", str(target)).returncode == 2  # refuses to overwrite


def test_validate_and_listing_commands():
    assert run_cli("validate", "-p", str(FIXTURES / "profiles" / "mini.yaml")).returncode == 0
    proc = run_cli("controls", "-p", str(FIXTURES / "profiles" / "mini.yaml"), "--only", "附录1 四(一)")
    assert proc.returncode == 0 and "T-SERVERS" in proc.stdout and "T-AGEING" not in proc.stdout
    assert run_cli("probes").returncode == 0


def test_only_selects_one_clause(tmp_path):
    out = tmp_path / "r"
    proc = run_cli(*FAST, "-p", str(MINI), "--only", "L3-CES1-18", "-o", str(out))
    (folder,) = list(out.iterdir())
    data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    assert [c["control_id"] for c in data["controls"]] == ["T-PORTS"], proc.stderr
    assert data["run"]["only"] == ["L3-CES1-18"]


def test_run_with_no_arguments_audits_this_machine_against_the_default(tmp_path):
    """`ihconform run` alone: the embedded default profile on the local machine, into ./reports."""
    from ihconform.catalog import DEFAULT_PROFILE, load_profile

    proc = run_cli("run", "-q", cwd=tmp_path)
    assert proc.returncode in (1, 3), proc.stderr  # a single machine cannot conform
    (folder,) = list((tmp_path / "reports").iterdir())
    data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    validate_results(data)
    profile = load_profile(DEFAULT_PROFILE)
    assert data["run"]["profile"] == DEFAULT_PROFILE
    assert {c["control_id"] for c in data["controls"]} == {c.id for c in profile.controls}
    assert {r["control_id"] for r in data["results"]} == {c.id for c in profile.controls}
    # what one machine cannot satisfy is said plainly, never dropped and never a pass
    by_id = {c["control_id"]: c for c in data["controls"]}
    assert by_id["CQ-A1-4.1-a"]["status"] == "fail"
    # the machine scanning itself is no outside view: exposure is not judged, never passed
    exposure = [r for r in data["results"] if r["probe"] == "exposure.open_ports"]
    assert exposure and all(r["status"] == "not_checked" for r in exposure)
    unchecked = [r for r in data["results"] if r["status"] == "not_checked"]
    assert unchecked and all(r["reason"] for r in unchecked)
    assert (folder / "junit.xml").exists()


def test_only_selects_by_probe(tmp_path):
    out = tmp_path / "r"
    proc = run_cli(*FAST, "-p", str(MINI), "--only", "probe:host.", "-o", str(out))
    (folder,) = list(out.iterdir())
    data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    assert sorted(c["control_id"] for c in data["controls"]) == ["T-AGEING", "T-PORTS"], proc.stderr


def test_a_run_collects_only_the_probe_modules_its_plan_calls(tmp_path):
    """The plan of ``--only probe:host.`` calls host probes only: the session imports
    probes/host.py and none of the other probe modules; with an empty plan every module is
    still named (pytest given no file would collect the folder it was started in)."""
    from ihconform.registry import builtin_probe_files

    mods = {p.name for p in builtin_probe_files({"host.identities", "host.mfa", "my.own"})}
    assert mods == {"host.py"} and len(builtin_probe_files()) > 10
    out = tmp_path / "r"
    code = ("import sys; from ihconform import cli; rc = cli.main(sys.argv[1:]); "
            "print(sorted(m for m in sys.modules if m.startswith('ihconform.probes.')))")
    proc = subprocess.run([sys.executable, "-c", code, *FAST, "-p", str(MINI), "--only", "probe:host.",
                           "-o", str(out)], capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)
    assert proc.stdout.strip().splitlines()[-1] == "['ihconform.probes.host']", proc.stderr
    (folder,) = list(out.iterdir())
    data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    assert {r["control_id"] for r in data["results"]} == {"T-AGEING", "T-PORTS"}
    from ihconform.run.launch import pytest_args

    args = pytest_args(inventory=None, profile=str(MINI), only=[], output=out / "x", run_id="x", probes=[],
                       parallel=1, progress=False, probe_ids=set())
    assert sum(a.endswith(".py") for a in args) == len(builtin_probe_files())


def test_run_does_not_load_the_other_subcommand_modules() -> None:
    """``ihconform run`` (and the other own commands) parse without importing the lab, ledger,
    report and upload command modules; the full command list still has them all."""
    code = ("import json, sys; from ihconform.cli import build_parser, SUBCOMMAND_MODULES; "
            "a = build_parser('run').parse_args(['run', '-q', '--formats', 'json']); "
            "print(a.formats, a.quiet, [m for m in SUBCOMMAND_MODULES if m in sys.modules]); "
            "full = build_parser(None); "
            "print(json.dumps(sorted(full._subparsers._group_actions[0].choices)))")  # argparse lists them nowhere else
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    first, second = proc.stdout.splitlines()
    assert first == "json True []"
    assert {"run", "lab", "attest", "report", "upload", "receiver"} <= set(json.loads(second))


#: A library logging and warning from a thread and from the main thread, inside and then after
#: ``unshown_output``, in a fresh interpreter (no logging configured, as in ``ihconform run``).
NOISY = """import logging, sys, threading, warnings
from ihconform.run.launch import unshown_output
log = logging.getLogger("paramiko.transport")
def noisy():
    log.warning("LIBRARY-LOG-LINE")
    warnings.warn("LIBRARY-WARNING", UserWarning, stacklevel=1)
with unshown_output():
    t = threading.Thread(target=noisy)
    t.start()
    t.join()
    noisy()
sys.stderr.write("--after--\\n")
noisy()
"""


def test_a_sole_run_keeps_library_logs_and_warnings_off_the_terminal() -> None:
    """A run without the user's pytest options has no pytest log or warning capture
    (launch.UNSHOWN_PLUGINS); inside ``unshown_output`` a library's log record or warning
    (paramiko's, from a transport thread between probe calls) reaches neither stream, and
    afterwards both behave as before."""
    from ihconform.run.launch import UNSHOWN_PLUGINS, pytest_args

    args = pytest_args(inventory=None, profile=None, only=[], output=Path("out"), run_id="r", probes=[],
                       parallel=1, progress=False, formats=["json"])
    assert all(f"no:{p}" in args for p in UNSHOWN_PLUGINS)
    proc = subprocess.run([sys.executable, "-c", NOISY], capture_output=True, text=True, timeout=60, check=True)
    during, _, after = proc.stderr.partition("--after--\n")
    assert proc.stdout == "" and during == ""
    assert "LIBRARY-LOG-LINE" in after and "LIBRARY-WARNING" in after  # logging's last resort, the warning


def test_pytest_k_selects_one_object_by_its_plan_key(tmp_path: Path) -> None:
    """Probe items are named by their plan key (``<control>@<object>``), so ``-k`` after ``--``
    judges one (control, object) pair; every other pair is 未检查 with the reason, never 符合."""
    proc = run_cli("run", "-q", "--formats", "json", "-i", str(FIXTURES / "golden-inventory.yaml"),
                   "-p", str(FIXTURES / "profiles" / "golden.yaml"), "--probes", str(FIXTURES / "probes" / "fixed.py"),
                   "-o", str(tmp_path), "--", "-k", "G-CONTRACT and isp-b")
    assert proc.returncode == 1, proc.stderr[-2000:]
    (found,) = tmp_path.rglob("results.json")
    results = json.loads(found.read_text(encoding="utf-8"))["results"]
    judged = {(r["control_id"], r["object_id"]): r["status"] for r in results
              if r["status"] not in ("not_checked", "not_applicable")}
    assert judged == {("G-CONTRACT", "isp-b"): "fail"}  # G-EXCLUDED stays 不适用: the profile excludes it
    assert {r["reason"] for r in results if r["status"] == "not_checked" and r["control_id"] == "G-CONTRACT"} \
        == {"probe did not run (interrupted, deselected or not collected)"}
