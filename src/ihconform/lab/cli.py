"""``ihconform lab up | down | status | variants``: the lab's command line.

Exit codes: 0 ok, 2 usage or configuration (not root, already up, range in use, unknown
variant), 1 failure of a step (the message names the command and its stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, cast

from ihconform.lab import lifecycle, network, plan
from ihconform.lab.proc import LabError

USAGE_ERRORS = (lifecycle.NotRoot, lifecycle.AlreadyUp, network.RangeInUse)


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``lab`` subcommand to an argparse ``subparsers`` object."""
    lab = subparsers.add_parser("lab", help="实验环境（网络命名空间中的互联网医院） / the reference lab",
                                description="实验环境：在本机网络命名空间中搭建的互联网医院 / "
                                            "the reference lab: an internet hospital in network namespaces")
    sub = lab.add_subparsers(dest="lab_command", metavar="{up,down,status,variants}")
    sub.required = True
    p_up = sub.add_parser("up", help="启动实验环境 / bring the lab up")
    p_up.add_argument("--variant", action="append", default=[], metavar="NAME",
                      help="加入一个缺陷（可重复） / add a defect variant (repeatable); see `lab variants`")
    p_up.add_argument("--runtime", type=Path, default=lifecycle.DEFAULT_RUNTIME,
                      help=f"运行目录 / runtime folder (default {lifecycle.DEFAULT_RUNTIME})")
    p_up.add_argument("--fleet", type=int, default=0, metavar="N",
                      help=f"另加 N 台最小 SSH 主机（≤{plan.FLEET_MAX}）/ also build N minimal SSH hosts "
                           f"f01.. (≤{plan.FLEET_MAX}) and write fleet-inventory.yaml (scale benchmarks)")
    p_up.add_argument("--devices", action="store_true",
                      help="同时构建网络设备（两台 FRR 核心路由器、一台 nftables 防火墙）/ also build the network "
                           "devices (two FRR core routers, an nftables firewall) and write devices-inventory.yaml")
    p_up.add_argument("--release", action="append", default=[], metavar="NAME",
                      choices=list(plan.RELEASE_VERSIONS),
                      help="另加该 Debian 版本的一台原装主机（自带根文件系统，可重复）/ "
                           "also build a stock host of this Debian release on its own root "
                           f"({', '.join(plan.RELEASE_VERSIONS)}; repeatable) and write release-inventory.yaml; "
                           "a root not yet cached is built with debootstrap first")
    p_up.set_defaults(handler=_up)
    p_down = sub.add_parser("down", help="关闭并清理实验环境 / take the lab down and clean up")
    p_down.add_argument("--runtime", type=Path, default=lifecycle.DEFAULT_RUNTIME,
                        help="运行目录 / runtime folder")
    p_down.set_defaults(handler=_down)
    p_status = sub.add_parser("status", help="显示主机与服务状态 / show hosts and services")
    p_status.add_argument("--runtime", type=Path, default=lifecycle.DEFAULT_RUNTIME,
                          help="运行目录 / runtime folder")
    p_status.add_argument("--json", action="store_true", help="以 JSON 输出 / print JSON")
    p_status.set_defaults(handler=_status)
    p_var = sub.add_parser("variants", help="列出缺陷变体 / list the defect variants")
    p_var.set_defaults(handler=_variants)
    lab.set_defaults(handler=lambda _a: _usage(lab))
    return cast(argparse.ArgumentParser, lab)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_usage(sys.stderr)
    return 2


def _fail(exc: LabError) -> int:
    print(f"ihconform lab: {exc}", file=sys.stderr)
    return 2 if isinstance(exc, USAGE_ERRORS) else 1


def _up(args: argparse.Namespace) -> int:
    try:
        plan.check_variants(list(args.variant))
        plan.fleet_hosts(args.fleet)
    except ValueError as exc:
        print(f"ihconform lab: {exc}", file=sys.stderr)
        return 2
    try:
        info = lifecycle.up(args.variant, args.runtime, fleet=args.fleet, releases=args.release,
                            devices=args.devices)
    except LabError as exc:
        return _fail(exc)
    print(f"实验环境已启动 / lab up in {info.up_seconds:.1f} s"
          + (f" (variants: {', '.join(info.variants)})" if info.variants else ""), file=sys.stderr)
    print(info.inventory_path)
    for extra in (info.fleet_inventory, info.release_inventory, info.devices_inventory):
        if extra is not None:
            print(extra)
    return 0


def _down(args: argparse.Namespace) -> int:
    try:
        lifecycle.down(args.runtime)
    except LabError as exc:
        return _fail(exc)
    print("实验环境已清理 / lab down", file=sys.stderr)
    return 0


def _status(args: argparse.Namespace) -> int:
    try:
        rows = lifecycle.status(args.runtime)
    except LabError as exc:
        return _fail(exc)
    if args.json:
        doc = [{"name": n, "kind": k, "state": s} for n, k, s in rows]
        print(json.dumps(doc, ensure_ascii=False, indent=2))
    elif not rows:
        print("实验环境未启动 / the lab is not up")
    else:
        width = max(len(n) for n, _k, _s in rows)
        for name, kind, state in rows:
            print(f"{name:<{width}}  {kind:<10}  {state}")
    return 0


def _variants(_args: argparse.Namespace) -> int:
    for v in plan.VARIANTS.values():
        print(f"{v.name:<16} {v.zh} / {v.en}")
    return 0
