"""The ``ihconform`` command line. Help is Chinese first, then English.

Exit codes (docs/cli.md): 0 conformant, 1 non-conformant, 2 usage or configuration error,
3 incomplete (errors or unchecked controls, nothing non-conformant), 74 the run folder could
not be written (disk full, read-only; no report left), 130 interrupted.
Only this module turns exceptions into exit codes.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import importlib.util
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import NoReturn

from ihconform import __version__
from ihconform.catalog import DEFAULT_PROFILE, builtin_profiles, hosting_kind, load_profile
from ihconform.errors import ConfigError, IhconformError, Location
from ihconform.inventory import Inventory, load_inventory, local_inventory
from ihconform.plan import check_only, matches_only
from ihconform.profile import Method, Profile
from ihconform.registry import PROBES, user_probe_ids
from ihconform.results import ExitCode, Status
from ihconform.run.launch import (
    DEFAULT_REPORTS,
    FORMATS,
    early_facts,
    execute,
    new_run_id,
    pytest_args,
    run_folder,
    unshown_output,
)
from ihconform.text import printable

#: Modules that add their own subcommands through ``register(subparsers)``. They are imported
#: only when the command line may name one of theirs (not for ``run`` and the other commands
#: below): the lab alone costs 0.13 s of every run's start otherwise.
SUBCOMMAND_MODULES = ("ihconform.lab", "ihconform.ledger.cli", "ihconform.report.cli", "ihconform.upload.cli")


def _err(msg: str) -> None:
    sys.stderr.write(f"ihconform: 错误 / error: {msg}\n")


def _load_inputs(args: argparse.Namespace) -> tuple[Profile, Inventory | None]:
    inventory = load_inventory(Path(args.inventory)) if getattr(args, "inventory", None) else None
    profile = load_profile(args.profile or DEFAULT_PROFILE, hosting=hosting_kind(inventory))
    probes = [Path(p) for p in getattr(args, "probes", []) or []]
    for p in probes:
        if not p.exists():
            raise ConfigError("probe file or folder not found", Location(p), field="--probes")
    if inventory is not None:  # the env file and the evidence ledger are input too: bad ones stop here
        from ihconform.ledger.core import load_ledger
        from ihconform.secrets import parse_env_file

        if inventory.defaults.env_file is not None:
            parse_env_file(inventory.defaults.env_file)

        ev = inventory.evidence
        load_ledger(ev.attestations, ev.waivers, ev.keyring)
    known = set(PROBES) | user_probe_ids(probes)
    for c in profile.controls:
        if c.probe is not None and c.probe not in known:
            raise ConfigError(f"control {c.id} names probe {c.probe!r}, which is not registered "
                              "(built-in probes: `ihconform probes`; add your own with --probes DIR)")
    return profile, inventory


# ---- run --------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    t0 = time.monotonic()  # the printed duration covers the whole run, reports included
    profile, inventory = _load_inputs(args)  # validate everything before anything is written
    check_only(profile, tuple(args.only or ()))  # a selector that matches nothing: exit 2, no run folder
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ConfigError(f"unknown report format(s) {', '.join(unknown)}; known: {', '.join(FORMATS)}",
                          field="--formats")
    extra = list(args.pytest_args or [])
    if args.workers:
        if importlib.util.find_spec("xdist") is None:
            raise ConfigError("--workers needs pytest-xdist: pip install 'ihconform[dist]'", field="--workers")
        extra = ["-n", str(args.workers), *extra]
    run_id = new_run_id()
    base = Path(args.output) if args.output else DEFAULT_REPORTS
    out = run_folder(base, run_id)
    if out.exists():
        raise ConfigError(f"output folder {out} exists; it is never overwritten")
    target = f"inventory {args.inventory}" if args.inventory else "本机 / this machine (embedded default)"
    sys.stderr.write(f"ihconform {__version__}: {profile.id} {profile.version} · "
                     f"{len(profile.controls)} controls · {target}\n")
    # Facts are gathered while pytest starts; with options of the user's for pytest (xdist
    # workers, -k) the session may not be a single process, and gathers on its own.
    early = None if extra else early_facts(profile, inventory, args.only or [], args.parallel)
    try:
        with unshown_output() if not extra else contextlib.nullcontext():
            code = execute(pytest_args(
                inventory=Path(args.inventory) if args.inventory else None, profile=args.profile,
                only=args.only or [], output=out, run_id=run_id, probes=[Path(p) for p in args.probes or []],
                parallel=args.parallel, progress=sys.stderr.isatty() and not args.quiet, formats=formats,
                extra=extra, tester=_tester_options(args), probe_ids=set(early.plan.by_probe) if early else None),
                plugins=[early] if early else None)
    finally:
        if early is not None:  # a session that ended early (usage error) never adopted it
            early.store.close()
    results = out / "results.json"
    if not results.exists():
        if code in (ExitCode.INTERRUPTED, ExitCode.OUTPUT_ERROR):  # the engine said why
            return code
        _err(f"the run wrote no results (pytest exit {code}); see the messages above")
        return ExitCode.USAGE if code == 4 else ExitCode.INCOMPLETE  # 4: pytest usage error
    summarize(json.loads(results.read_text(encoding="utf-8")), results, sys.stdout,
              elapsed=time.monotonic() - t0)
    return code


def _tester_options(args: argparse.Namespace) -> dict[str, str]:
    """``run`` options that override the inventory's ``tester:`` section (report cover, 签署页)."""
    given = {"organisation": args.tester_org, "testers": ",".join(args.tester or []),
             "report_number": args.report_number}
    return {k: v for k, v in given.items() if v}


def unreachable_hosts(data: dict[str, object], folder: Path) -> list[tuple[str, str]]:
    """Hosts that could not be reached or dropped mid-run, with why, from the run's transcripts
    (``evidence/hosts/<id>/transcript.json``, listed in results.json ``evidence``)."""
    out: list[tuple[str, str]] = []
    evidence = data.get("evidence") or []
    assert isinstance(evidence, list)
    for e in evidence:
        if e.get("kind") != "transcript":
            continue
        try:
            t = json.loads((folder / e["path"]).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if t.get("error"):
            out.append((str(t.get("host", "")), str(t["error"])))
    return out


def summarize(data: dict[str, object], path: Path, out: object, elapsed: float | None = None) -> None:
    """The terse terminal summary of a run, read back from results.json. Unreachable hosts come
    first, on one line: every verdict below about them is 检查错误 for that one reason."""
    w = out.write  # type: ignore[attr-defined]
    summary = data["summary"]
    run = data["run"]
    assert isinstance(summary, dict) and isinstance(run, dict)
    down = unreachable_hosts(data, path.parent)
    if down:
        w(f"无法连接的主机 / unreachable hosts ({len(down)}): "
          + "; ".join(f"{h} ({printable(why.removeprefix(f'host {h}: '), lines=False)[:80]})" for h, why in down)
          + "\n")
    sel = run.get("selection") or {}
    if sel.get("partial"):
        w(f"专项检查 / partial run: --only {' '.join(sel.get('only', []))} "
          f"({sel.get('controls')} / {sel.get('profile_controls')} controls)\n")
    c = summary["controls"]
    order = [Status.PASS, Status.PARTIAL, Status.FAIL, Status.NOT_APPLICABLE, Status.NOT_CHECKED, Status.ERROR]
    w("\n控制项 / controls: " + " · ".join(f"{s.zh} {c.get(s.value, 0)}" for s in order) + "\n")
    o = summary["objects"]
    w("检查点 / checks:   " + " · ".join(f"{s.zh} {o.get(s.value, 0)}" for s in order) + "\n")
    status = Status(summary["status"])
    took = f"{elapsed:.1f}" if elapsed is not None else run["duration_s"]
    w(f"结论 / result: {status.zh} ({status.en}) — exit {summary['exit_code']} · {took} s\n")
    if summary.get("high_risk_failures"):
        w("高风险项 / high-risk failures: " + ", ".join(summary["high_risk_failures"]) + "\n")
    controls = data["controls"]
    assert isinstance(controls, list)
    bad = [x for x in controls if x["status"] in ("fail", "partial", "error")]
    if bad:
        w("需关注 / needs attention:\n")
        reasons: dict[str, str] = {}
        results = data["results"]
        assert isinstance(results, list)
        for r in results:
            if r["status"] in ("fail", "partial", "error") and r["control_id"] not in reasons:
                waived = f" [已豁免 / waived {r['waiver']['id']}]" if r.get("waiver") else ""
                reasons[r["control_id"]] = f"{r['object_id']}{waived}: {r['reason']}"
        for x in bad[:20]:
            why = printable(reasons.get(x["control_id"], ""), lines=False)[:110]  # target text on a terminal
            w(f"  {x['control_id']:<22} {x['status_zh']:<5} {x['title_zh']} — {why}\n")
        if len(bad) > 20:
            w(f"  … {len(bad) - 20} more in results.json\n")
    w(f"结果 / results: {path}\n")


# ---- init, validate, profiles, controls -------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    target = Path(args.path)
    if target.exists() and not args.force:
        raise ConfigError("file exists; use --force to overwrite", Location(target))
    template = resources.files("ihconform") / "templates" / "inventory.yaml"
    target.write_text(template.read_text(encoding="utf-8"), encoding="utf-8")
    print(f"已写出清单模板 / wrote inventory template: {target}")
    return ExitCode.CONFORMANT


def cmd_validate(args: argparse.Namespace) -> int:
    profile, inventory = _load_inputs(args)
    methods = Counter(c.method.value for c in profile.controls)
    print(f"配置文件 / profile {profile.id} {profile.version}: {len(profile.controls)} controls "
          f"(auto {methods.get('auto', 0)}, attest {methods.get('attest', 0)}, manual {methods.get('manual', 0)}); "
          f"files: {len(profile.sources)}")
    inv = inventory or local_inventory()
    print(f"清单 / inventory {'(embedded default)' if inventory is None else args.inventory}: "
          f"{len(inv.hosts)} hosts, {len(inv.databases)} databases, {len(inv.tls_endpoints)} TLS endpoints, "
          f"{len(inv.uplinks)} uplinks, {len(inv.av_systems)} AV systems, {len(inv.network_devices)} network devices")
    if inventory is not None:  # the embedded default has no institution, keys or ledger to warn about
        from ihconform.preflight import inventory_warnings

        for line in inventory_warnings(profile, inventory):
            sys.stderr.write(f"警告 / warning: {printable(line, lines=False)}\n")
    if inventory is not None and inventory.system.hosting is None:
        print("提示 / note: 清单未声明 system.hosting，未纳入云计算安全扩展要求 / the inventory declares no "
              "system.hosting; the cloud extension (mlps-l3-cloud) is not included")
    print("有效 / valid")
    return ExitCode.CONFORMANT


def cmd_profiles(args: argparse.Namespace) -> int:
    if args.action == "show":
        if not args.id:
            raise ConfigError("profiles show needs a profile id or file")
        p = load_profile(args.id)
        print(f"{p.id} {p.version} — {p.title.zh} / {p.title.en}")
        for d in p.documents.values():
            print(f"  文件 / document {d.id}: {d.title} {d.number}")
        print(f"  控制项 / controls: {len(p.controls)}; 裁剪 / tailored out: {len(p.excluded)}")
        for f, digest in p.digests.items():
            print(f"  {digest[:16]}  {f}")
        return ExitCode.CONFORMANT
    for pid, path in builtin_profiles().items():
        p = load_profile(path)
        print(f"{pid:<26} {p.version:<10} {len(p.controls):>4} controls  {p.title.zh} / {p.title.en}")
    return ExitCode.CONFORMANT


def cmd_controls(args: argparse.Namespace) -> int:
    p = load_profile(args.profile or DEFAULT_PROFILE, hosting=args.hosting)
    check_only(p, tuple(args.only or ()))  # a typo names the nearest ids, as in `run --only`
    selected = [c for c in p.controls if matches_only(c, tuple(args.only or ()))
                and (not args.tag or args.tag in c.tags)
                and (not args.method or c.method is Method(args.method))]
    if args.action == "show":
        if not args.id:
            raise ConfigError("controls show needs a control id")
        try:
            c = p.control(args.id)
        except KeyError:
            raise ConfigError(f"no control {args.id!r} in profile {p.id}") from None
        print(json.dumps(c.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return ExitCode.CONFORMANT
    for c in selected:
        print(f"{c.id:<22} {c.method.value:<6} {c.severity.value} {'高风险' if c.high_risk else '      '} "
              f"{c.source.clause:<16} {c.title.zh}")
    print(f"({len(selected)} / {len(p.controls)})", file=sys.stderr)
    return ExitCode.CONFORMANT


def cmd_probes(args: argparse.Namespace) -> int:
    for pid, target in sorted(PROBES.items()):
        print(f"{pid:<28} {target}")
    return ExitCode.CONFORMANT


def cmd_collect_script(args: argparse.Namespace) -> int:
    """Print the exact batch the online path sends to a ``platform`` host (facts/contract.py),
    for an administrator to run on a host that cannot be reached (offline collection)."""
    import secrets

    from ihconform.facts.contract import COLLECTORS, collector_for
    from ihconform.facts.sections import platform_sections

    if args.platform not in COLLECTORS:
        raise ConfigError(f"no collector for platform {args.platform!r}; known: {', '.join(sorted(COLLECTORS))}")
    nonce = args.nonce or secrets.token_hex(8)
    try:
        script = collector_for(args.platform).script(platform_sections(args.platform), nonce)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    sys.stdout.write(script)
    return ExitCode.CONFORMANT


def cmd_trust(args: argparse.Namespace) -> int:
    """Pin a host key after showing its fingerprint (never auto-accept)."""
    from ihconform.transport.ssh import fingerprint, known_hosts_names, scan_host_key  # noqa: I001 -- first: paramiko without invoke
    import paramiko

    inv = load_inventory(Path(args.inventory))
    try:
        host = inv.host(args.host)
    except KeyError:
        raise ConfigError(f"no host {args.host!r} in the inventory") from None
    if host.jump:
        raise ConfigError("trust reaches the host directly; for a host behind a jump host, pin the key "
                          "from a trusted source in hosts[].host_key")
    key = scan_host_key(host.address, host.port, host.timeout_s)
    print(f"{host.id} ({host.address}:{host.port}) offers {key.get_name()} {fingerprint(key)}")
    if not args.yes:
        if not sys.stdin.isatty():
            raise ConfigError("not a terminal: compare the fingerprint out of band, then pass --yes")
        answer = input("与带外获得的指纹一致吗？/ Does it match the fingerprint you got out of band? [y/N] ")
        if answer.strip().lower() not in ("y", "yes", "是"):
            print("未固定 / not pinned")
            return ExitCode.USAGE
    path = inv.defaults.known_hosts or Path("~/.ssh/known_hosts").expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    hk = paramiko.HostKeys(str(path)) if path.exists() else paramiko.HostKeys()
    for name in known_hosts_names(host):
        hk.add(name, key.get_name(), key)
    hk.save(str(path))
    print(f"已固定 / pinned in {path}")
    return ExitCode.CONFORMANT


# ---- parser -----------------------------------------------------------------------------


#: The commands this module defines itself (``build_parser``).
OWN_COMMANDS = ("run", "init", "validate", "profiles", "controls", "probes", "trust")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line; with ``command`` one of :data:`OWN_COMMANDS`, without the subcommands
    of :data:`SUBCOMMAND_MODULES` (that command's parsing and help are the same)."""
    p = argparse.ArgumentParser(
        prog="ihconform",
        description="互联网医院规范性测试工具 / conformance testing harness for internet hospitals "
                    "(附录1 基本标准, 监管细则, 等保 2.0 第三级)",
        epilog="退出码 / exit codes: 0 符合 conformant · 1 不符合 non-conformant · 2 用法或配置错误 usage/config "
               "error · 3 不完整 incomplete · 74 无法写出结果 output not writable (disk full…) · 130 中断 interrupted")
    p.add_argument("--version", action="version", version=f"ihconform {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def common(sp: argparse.ArgumentParser, inventory: bool = True) -> None:
        if inventory:
            sp.add_argument("-i", "--inventory", help="站点清单 YAML / site inventory (default: this machine)")
        sp.add_argument("-p", "--profile", help=f"配置文件 id 或路径 / profile id or file (default {DEFAULT_PROFILE})")
        sp.add_argument("--probes", action="append", metavar="DIR", help="自定义探针 / extra probe files or folders")

    r = sub.add_parser("run", help="运行检查并写出结果 / run the checks and write the results")
    common(r)
    r.add_argument("--only", action="append", metavar="SEL",
                   help="只运行匹配的控制项（编号、条款、标签）/ only controls matching id, clause or tag")
    r.add_argument("-o", "--output", metavar="DIR", help="结果目录 / reports folder (default reports/)")
    r.add_argument("--parallel", type=int, default=16, help="并行主机数 / hosts probed at once (default 16)")
    r.add_argument("--workers", type=int, default=0, metavar="N",
                   help="工作进程数（pytest-xdist，每台主机的检查在同一进程）/ spread the run over N processes "
                        "(pytest-xdist; a host's checks stay on one worker); default 0: one process")
    r.add_argument("-q", "--quiet", action="store_true", help="不显示进度 / no progress display")
    r.add_argument("--formats", default=",".join(FORMATS), metavar="LIST",
                   help="报告格式 / report formats: json,junit,html,pdf,docx (json and junit always)")
    r.add_argument("--tester-org", metavar="ORG",
                   help="测试单位（覆盖清单 tester.organisation）/ testing organisation (overrides the inventory)")
    r.add_argument("--tester", action="append", metavar="NAME",
                   help="测试人员，可重复（覆盖清单 tester.testers）/ tester, repeatable (overrides the inventory)")
    r.add_argument("--report-number", metavar="NO",
                   help="报告编号（覆盖清单 tester.report_number）/ report number (overrides the inventory)")
    r.add_argument("pytest_args", nargs="*", help="传给 pytest 的参数（放在 -- 之后）/ extra pytest arguments after --")
    r.set_defaults(func=cmd_run)

    i = sub.add_parser("init", help="写出带注释的清单模板 / write a commented inventory template")
    i.add_argument("path", nargs="?", default="inventory.yaml")
    i.add_argument("--force", action="store_true", help="覆盖已有文件 / overwrite an existing file")
    i.set_defaults(func=cmd_init)

    v = sub.add_parser("validate", help="校验清单与配置文件（不探测）/ validate inventory and profiles (no probing)")
    common(v)
    v.set_defaults(func=cmd_validate)

    pr = sub.add_parser("profiles", help="列出或显示配置文件 / list or show profiles")
    pr.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    pr.add_argument("id", nargs="?")
    pr.set_defaults(func=cmd_profiles)

    c = sub.add_parser("controls", help="列出或显示控制项 / list or show controls")
    c.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    c.add_argument("id", nargs="?")
    c.add_argument("-p", "--profile")
    c.add_argument("--only", action="append", metavar="SEL", help="按编号、条款或标签过滤 / filter by id, clause, tag")
    c.add_argument("--tag")
    c.add_argument("--method", choices=[m.value for m in Method])
    c.add_argument("--hosting", choices=["on-premises", "idc", "cloud"],
                   help="按部署方式展开条件包含（cloud：云计算扩展）/ resolve conditional includes as for "
                        "this system.hosting.kind (cloud: the cloud extension)")
    c.set_defaults(func=cmd_controls)

    pb = sub.add_parser("probes", help="列出已注册的探针 / list the registered probes")
    pb.set_defaults(func=cmd_probes)

    cs = sub.add_parser("collect-script", help="输出离线采集脚本 / print the collection script a platform's hosts "
                                               "are sent (run it on the host; see docs/windows.md)")
    cs.add_argument("platform", help="平台 / platform (windows, linux)")
    cs.add_argument("--nonce", help="脚本标记（默认随机）/ the script's run marker (default: random; it is "
                                    "recorded in the answer, which the offline reader checks)")
    cs.set_defaults(func=cmd_collect_script)

    t = sub.add_parser("trust", help="显示并固定主机密钥 / show and pin a host key")
    t.add_argument("host")
    t.add_argument("-i", "--inventory", required=True)
    t.add_argument("--yes", action="store_true", help="已带外核对指纹 / fingerprint verified out of band")
    t.set_defaults(func=cmd_trust)

    if command not in OWN_COMMANDS:
        for module in SUBCOMMAND_MODULES:
            importlib.import_module(module).register(sub)
    return p


def entry(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``ihconform`` program: :func:`main`, then the interpreter's exit without its last
    full collection of every object the run made.

    Why: at exit CPython tears down every module and runs the cyclic collector over what is
    left, 0.1–0.2 s of each run's wall on the lab machine (bench/embedded_default.py), for
    memory the process returns anyway. ``gc.freeze()`` moves the survivors out of the
    collector's reach; ``atexit`` handlers, buffered output and open files are finished as
    usual. Not in :func:`main`, which tests call many times in one process."""
    code = main(argv)
    gc.freeze()
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    if getattr(args, "pytest_args", None) is not None:
        args.pytest_args = list(args.pytest_args) + extra
    func = getattr(args, "func", None) or getattr(args, "handler", None)  # set_defaults(func=…|handler=…)
    if func is None:
        parser.print_help()
        return ExitCode.USAGE
    try:
        return int(func(args))
    except ConfigError as exc:
        _err(str(exc))
        return ExitCode.USAGE
    except KeyboardInterrupt:
        sys.stderr.write("中断 / interrupted\n")
        return ExitCode.INTERRUPTED
    except IhconformError as exc:
        _err(str(exc))
        return ExitCode.USAGE


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
