"""``ihconform attest add | list | check | sign | keygen | pubkey`` and ``ihconform waiver add | list | check``.

The ledger is plain YAML next to the inventory (``evidence.attestations`` / ``evidence.waivers``),
a file or a folder of files. These commands write it so that what a run verifies is what a
person signed: ``attest add`` hashes each attached file when it is attached, and ``sign`` signs
the canonical form of the record (``docs/evidence.md``). Writing re-serialises the YAML file
(comments in it are not kept); a folder ledger gets one file per record.

Exit codes: 0 all records valid, 1 some record does not verify or has expired (``check``),
2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ihconform.errors import ConfigError, Location
from ihconform.inventory import load_inventory
from ihconform.ledger.core import (
    ACTIVE,
    VALID,
    Checked,
    Ledger,
    load_ledger,
    payload,
    sha256_file,
)
from ihconform.ledger.model import Attestation, AttestationFile, Waiver, WaiverFile
from ihconform.ledger.signing import (
    ALGORITHMS,
    SignatureError,
    canonical_bytes,
    detect_algorithm,
    fingerprint,
    keygen,
    public_key,
    sign,
)
from ihconform.yamlio import load_yaml, validate


def register(subparsers: Any) -> None:
    """Add ``attest`` and ``waiver`` to the ihconform command line."""
    a = subparsers.add_parser("attest", help="证明材料台账 / the attestation ledger",
                              description="证明材料：签名、附件哈希、有效期 / attestations: signed, "
                                          "files pinned by SHA-256, with an expiry date")
    asub = a.add_subparsers(dest="attest_command", metavar="{add,list,check,sign,keygen,pubkey}")
    asub.required = True

    add = asub.add_parser("add", help="添加证明材料 / add an attestation")
    _where(add, "attestations")
    add.add_argument("--id", required=True, help="记录编号 / record id, e.g. ATT-2026-001")
    add.add_argument("--control", required=True, help="控制项编号 / control id")
    add.add_argument("--object", action="append", dest="objects", metavar="ID",
                     help="对象编号（可重复，* 为全部；默认 site）/ object id (repeatable, * for all; default site)")
    add.add_argument("--statement", required=True, help="证明陈述 / what is attested")
    add.add_argument("--attester", required=True, help="证明人姓名 / attester's name")
    add.add_argument("--role", required=True, help="证明人职务 / attester's role")
    add.add_argument("--organisation", required=True, help="证明人单位 / attester's organisation")
    add.add_argument("--date", type=_date, default=None, help="证明日期（默认今天）/ date attested (default today)")
    add.add_argument("--valid-until", type=_date, required=True, help="有效期至 / valid until (YYYY-MM-DD)")
    add.add_argument("--result", required=True, choices=["pass", "partial", "fail", "not_applicable"],
                     help="声明的结果 / the result claimed")
    add.add_argument("--file", action="append", default=[], metavar="PATH[:TYPE]",
                     help="附件及类型（可重复；附加时计算 SHA-256）/ attached file and type (repeatable; hashed now)")
    add.add_argument("--document-kind", help="文件类别 / document kind, e.g. mlps-assessment-report")
    add.add_argument("--document-number", default="", help="文件编号 / document number")
    add.add_argument("--document-issued", type=_date, help="出具日期 / date issued")
    add.add_argument("--document-issuer", default="", help="出具单位 / issuer")
    add.add_argument("--document-level", type=int, help="等级保护级别 / MLPS level")
    add.add_argument("--document-conclusion", default="", help="结论 / conclusion")
    add.add_argument("--document-score", type=float, help="综合得分 / overall score (2021 template)")
    add.add_argument("--document-high-risk-count", type=int, help="高风险问题数量 / number of high-risk issues")
    add.add_argument("--document-medium-risk-count", type=int, help="中风险问题数量 / number of medium-risk issues")
    add.add_argument("--document-filing-number", default="", help="备案号 / MLPS filing number")
    add.add_argument("--key", type=Path, help="用此私钥立即签名 / sign now with this private key")
    add.set_defaults(func=_attest_add)

    ls = asub.add_parser("list", help="列出证明材料及其状态 / list attestations and their state")
    _where(ls, "attestations")
    ls.set_defaults(func=_attest_list)

    ck = asub.add_parser("check", help="校验签名、附件与有效期 / verify signatures, files and expiry")
    _where(ck, "attestations")
    ck.set_defaults(func=_attest_check)

    sg = asub.add_parser("sign", help="签名证明材料 / sign an attestation")
    _where(sg, "attestations")
    sg.add_argument("id", help="记录编号 / record id")
    sg.add_argument("--key", type=Path, required=True, help="私钥文件 / private key file")
    sg.set_defaults(func=_attest_sign)

    kg = asub.add_parser("keygen", help="生成签名密钥 / generate a signing key")
    kg.add_argument("--algorithm", choices=ALGORITHMS, default="ed25519",
                    help="算法 / algorithm (default ed25519; sm2-sm3 needs gmssl)")
    kg.add_argument("--out", type=Path, required=True, help="私钥文件（权限 0600）/ private key file (mode 0600)")
    kg.add_argument("--owner", default="", help="持有人姓名 / owner's name (for the keyring entry)")
    kg.set_defaults(func=_keygen)

    pk = asub.add_parser("pubkey", help="显示已有私钥的公钥与可信公钥清单条目 / show the public key and keyring "
                                        "entry of an existing private key")
    pk.add_argument("key", type=Path, help="私钥文件 / private key file")
    pk.add_argument("--owner", default="", help="持有人姓名 / owner's name (for the keyring entry)")
    pk.set_defaults(func=_pubkey)

    r = subparsers.add_parser("records", help="证据台账文件 / the evidence ledger's files",
                              description="创建空的证明材料、豁免与可信公钥清单文件 / create the empty "
                                          "attestation, waiver and keyring files an inventory names")
    rsub = r.add_subparsers(dest="records_command", metavar="{init}")
    rsub.required = True
    ri = rsub.add_parser("init", help="创建空台账文件（不覆盖）/ create empty ledger files (never overwriting)")
    ri.add_argument("-i", "--inventory", type=Path,
                    help="按清单 evidence: 节创建 / create the files the inventory's evidence: section names")
    ri.add_argument("--dir", type=Path, default=Path("."),
                    help="无清单时的目录（默认当前目录）/ folder when no inventory is given (default .)")
    ri.set_defaults(func=_records_init)

    w = subparsers.add_parser("waiver", help="豁免（接受的风险）/ waivers (accepted risk)",
                              description="豁免：审批人、风险等级、补偿措施、有效期 / waivers: approver, risk "
                                          "rating, compensating control, validity")
    wsub = w.add_subparsers(dest="waiver_command", metavar="{add,list,check}")
    wsub.required = True
    wa = wsub.add_parser("add", help="添加豁免 / add a waiver")
    _where(wa, "waivers")
    wa.add_argument("--id", required=True, help="记录编号 / record id")
    wa.add_argument("--control", required=True, help="控制项编号 / control id")
    wa.add_argument("--object", action="append", dest="objects", metavar="ID",
                    help="对象编号（可重复，* 为全部）/ object id (repeatable, * for all)")
    wa.add_argument("--justification", required=True, help="理由 / justification")
    wa.add_argument("--compensating-control", required=True, help="补偿措施 / compensating control")
    wa.add_argument("--risk", required=True, choices=["high", "medium", "low", "高", "中", "低"],
                    help="风险等级 / risk rating")
    wa.add_argument("--approver", required=True, help="审批人姓名 / approver's name")
    wa.add_argument("--approver-role", required=True, help="审批人职务 / approver's role")
    wa.add_argument("--approver-organisation", required=True, help="审批人单位 / approver's organisation")
    wa.add_argument("--valid-from", type=_date, default=None, help="生效日期（默认今天）/ valid from (default today)")
    wa.add_argument("--valid-until", type=_date, required=True, help="有效期至 / valid until")
    wa.add_argument("--key", type=Path, help="审批人私钥，签名 / approver's private key, to sign")
    wa.set_defaults(func=_waiver_add)
    wl = wsub.add_parser("list", help="列出豁免及其状态 / list waivers and their state")
    _where(wl, "waivers")
    wl.set_defaults(func=_waiver_list)
    wc = wsub.add_parser("check", help="校验豁免（过期、签名）/ verify waivers (expiry, signatures)")
    _where(wc, "waivers")
    wc.set_defaults(func=_waiver_check)


def _where(p: argparse.ArgumentParser, section: str) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("-i", "--inventory", type=Path, help=f"站点清单（使用 evidence.{section}）/ inventory "
                                                         f"(uses evidence.{section})")
    g.add_argument("--ledger", type=Path, help="台账文件或目录 / ledger file or folder")
    p.add_argument("--keyring", type=Path, help="可信公钥清单 / keyring file (default: the inventory's)")
    p.add_argument("--today", type=_date, default=None, help=argparse.SUPPRESS)  # tests: a fixed date


def _date(text: str) -> _dt.date:
    try:
        return _dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _check_until(args: argparse.Namespace, start: _dt.date, start_flag: str) -> None:
    """A record that has already expired, or ends before it starts, is refused at the command
    line with one line, not a validation traceback: it would judge nothing (docs/evidence.md)."""
    today = args.today or _dt.date.today()
    if args.valid_until < today:
        raise ConfigError(f"--valid-until {args.valid_until} 已过去（今天 {today}）/ is in the past (today is "
                          f"{today}): an expired record judges nothing; give the date it stays valid to")
    if args.valid_until < start:
        raise ConfigError(f"--valid-until {args.valid_until} 早于 {start_flag} {start} / is before "
                          f"{start_flag} {start}")


def _model(model: type[Attestation] | type[Waiver], rec: dict[str, Any]) -> Attestation | Waiver:
    """Validate a record built from the options; the first problem as one line (exit 2)."""
    try:
        return model.model_validate(rec)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{where + ': ' if where else ''}{err['msg']}") from None


def _paths(args: argparse.Namespace, section: str) -> tuple[Path, Path | None]:
    """The ledger path and keyring of a command, from --ledger or the inventory."""
    keyring: Path | None = args.keyring
    if args.ledger is not None:
        return args.ledger, keyring
    inv = load_inventory(args.inventory)
    path: Path | None = getattr(inv.evidence, section)
    if path is None:
        raise ConfigError(f"the inventory names no evidence.{section} file; add `evidence: {{{section}: "
                          f"{section}.yaml}}` and create it", Location(args.inventory), field=f"evidence.{section}")
    return path, keyring or inv.evidence.keyring


def _target_file(ledger: Path, record_id: str) -> Path:
    return ledger / f"{record_id}.yaml" if ledger.is_dir() else ledger


def _raw(path: Path, section: str) -> dict[str, Any]:
    if not path.exists():
        return {section: []}
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise ConfigError(f"a ledger file is a mapping with a {section!r} list", Location(path, 1, 1))
    data: dict[str, Any] = doc.data
    data.setdefault(section, [])
    return data


def _write(path: Path, data: dict[str, Any], model: type[AttestationFile] | type[WaiverFile]) -> None:
    """Write the ledger file only if it still validates (atomic replace)."""
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=110)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    try:
        validate(load_yaml(tmp), model)
    except ConfigError:
        tmp.unlink()
        raise
    os.replace(tmp, path)


def _signature(record: Attestation | Waiver, key: Path) -> dict[str, str]:
    try:
        private = key.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read key: {exc.strerror}", Location(key)) from None
    algorithm = detect_algorithm(private)
    kind = "waiver" if isinstance(record, Waiver) else "attestation"
    try:
        public, value = sign(algorithm, private, canonical_bytes(kind, payload(record)))
    except SignatureError as exc:
        raise ConfigError(str(exc), Location(key)) from None
    return {"algorithm": algorithm, "public_key": public, "value": value}


def _attest_add(args: argparse.Namespace) -> int:
    _check_until(args, args.date or args.today or _dt.date.today(), "--date")
    ledger, _ = _paths(args, "attestations")
    target = _target_file(ledger, args.id)
    base = target.parent.resolve()
    files = []
    for spec in args.file:
        path_s, _, ftype = spec.rpartition(":") if ":" in spec else (spec, "", "")
        path_s, ftype = (path_s, ftype) if path_s else (spec, "document")
        src = Path(path_s)
        if not src.is_file():
            raise ConfigError("attached file not found", Location(src), field="--file")
        full = src.resolve()
        try:
            rel = os.path.relpath(full, base)
        except ValueError:  # another drive
            rel = str(full)
        files.append({"path": rel, "sha256": sha256_file(full),
                      "type": ftype or "document"})
    rec: dict[str, Any] = {
        "id": args.id, "control": args.control, "objects": args.objects or ["site"], "statement": args.statement,
        "attester": {"name": args.attester, "role": args.role, "organisation": args.organisation},
        "date": args.date or args.today or _dt.date.today(), "valid_until": args.valid_until,
        "result": args.result,
    }
    if args.document_kind:
        doc: dict[str, Any] = {"kind": args.document_kind}
        for k in ("number", "issued", "issuer", "level", "conclusion", "score", "high_risk_count",
                  "medium_risk_count", "filing_number"):
            v = getattr(args, f"document_{k}")
            if v not in (None, ""):
                doc[k] = v
        rec["document"] = doc
    if files:
        rec["files"] = files
    model = _model(Attestation, rec)
    if args.key is not None:
        rec["signature"] = _signature(model, args.key)
    data = _raw(target, "attestations")
    _refuse_duplicate(ledger, args.id, "attestations")
    data["attestations"].append(rec)
    _write(target, data, AttestationFile)
    print(f"已添加 / added {args.id} -> {target}" + (" (signed)" if args.key else " (unsigned: ihconform attest sign)"))
    return 0


def _refuse_duplicate(ledger: Path, record_id: str, section: str) -> None:
    if not ledger.exists():
        return
    led = load_ledger(ledger if section == "attestations" else None, ledger if section == "waivers" else None)
    if any(c.id == record_id for c in (*led.attestations, *led.waivers)):
        raise ConfigError(f"record {record_id!r} already exists", Location(ledger), field="id")


def _attest_sign(args: argparse.Namespace) -> int:
    ledger, _ = _paths(args, "attestations")
    files = [ledger / f"{args.id}.yaml", *sorted(ledger.glob("*.y*ml"))] if ledger.is_dir() else [ledger]
    for f in files:
        if not f.is_file():
            continue
        data = _raw(f, "attestations")
        parsed = validate(load_yaml(f), AttestationFile)
        for i, rec in enumerate(parsed.attestations):
            if rec.id == args.id:
                data["attestations"][i]["signature"] = _signature(rec, args.key)
                _write(f, data, AttestationFile)
                sig = data["attestations"][i]["signature"]
                print(f"已签名 / signed {args.id} with {fingerprint(sig['algorithm'], sig['public_key'])} in {f}")
                return 0
    raise ConfigError(f"no attestation {args.id!r}", Location(ledger), field="id")


def _keygen(args: argparse.Namespace) -> int:
    try:
        public = keygen(args.algorithm, args.out)
    except FileExistsError:
        raise ConfigError("key file exists; it is never overwritten", Location(args.out)) from None
    except SignatureError as exc:
        raise ConfigError(str(exc)) from None
    print(f"私钥 / private key: {args.out} (0600)")
    _print_public(args.algorithm, public, args.owner)
    return 0


def _print_public(algorithm: str, public: str, owner: str) -> None:
    print(f"公钥指纹 / fingerprint: {fingerprint(algorithm, public)}\n可信公钥清单条目 / keyring entry:")
    entry = {"keys": [{"algorithm": algorithm, "public_key": public,
                       "owner": {"name": owner or "<name>", "role": "<role>", "organisation": "<organisation>"}}]}
    print(yaml.safe_dump(entry, allow_unicode=True, sort_keys=False), end="")


def _pubkey(args: argparse.Namespace) -> int:
    """The public half of an existing key: keygen prints it once; this prints it again."""
    try:
        algorithm, public = public_key(args.key.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read key: {exc.strerror}", Location(args.key)) from None
    except SignatureError as exc:
        raise ConfigError(str(exc), Location(args.key)) from None
    print(f"私钥 / private key: {args.key}")
    _print_public(algorithm, public, args.owner)
    return 0


def _load(args: argparse.Namespace, section: str) -> Ledger:
    path, keyring = _paths(args, section)
    return load_ledger(path if section == "attestations" else None, path if section == "waivers" else None,
                       keyring, today=args.today)


def _row(c: Checked) -> str:
    r = c.record
    objs = ",".join(r.objects)
    if isinstance(r, Attestation):
        return (f"{r.id:<20} {r.control:<16} {objs:<14} {c.state:<14} {r.result.value:<14} "
                f"{r.valid_until}  {r.attester.name}  {c.reason}")
    assert isinstance(r, Waiver)
    return (f"{r.id:<20} {r.control:<16} {objs:<14} {c.state:<14} {r.risk.value:<7} "
            f"{r.valid_from}..{r.valid_until}  {r.approver.name}  {c.reason}")


def _attest_list(args: argparse.Namespace) -> int:
    led = _load(args, "attestations")
    print(f"{'id':<20} {'control':<16} {'objects':<14} {'state':<14} {'claimed':<14} valid_until  attester")
    for c in led.attestations:
        print(_row(c))
    return 0


def _attest_check(args: argparse.Namespace) -> int:
    led = _load(args, "attestations")
    for c in led.attestations:
        print(_row(c))
    bad = [c for c in led.attestations if c.state != VALID]
    print(f"{len(led.attestations) - len(bad)}/{len(led.attestations)} 有效 / valid", file=sys.stderr)
    return 1 if bad else 0


def _waiver_add(args: argparse.Namespace) -> int:
    _check_until(args, args.valid_from or args.today or _dt.date.today(), "--valid-from")
    ledger, _ = _paths(args, "waivers")
    target = _target_file(ledger, args.id)
    rec: dict[str, Any] = {
        "id": args.id, "control": args.control, "objects": args.objects or ["*"],
        "justification": args.justification, "compensating_control": args.compensating_control,
        "risk": args.risk, "approver": {"name": args.approver, "role": args.approver_role,
                                        "organisation": args.approver_organisation},
        "valid_from": args.valid_from or args.today or _dt.date.today(), "valid_until": args.valid_until,
    }
    model = _model(Waiver, rec)
    assert isinstance(model, Waiver)
    rec["risk"] = model.risk.value
    if args.key is not None:
        rec["signature"] = _signature(model, args.key)
    data = _raw(target, "waivers")
    _refuse_duplicate(ledger, args.id, "waivers")
    data["waivers"].append(rec)
    _write(target, data, WaiverFile)
    print(f"已添加 / added {args.id} -> {target}")
    return 0


#: The empty files of the ledger: the key each file holds, and a commented example record.
_EMPTY_LEDGER = {
    "attestations": ("attestations.yaml", "attestations: []\n", """\
# 证明材料台账 / attestation ledger (docs/evidence.md). Add records with `ihconform attest add`
# (it hashes attached files and can sign); this file is rewritten then, comments are not kept.
#   - id: ATT-2026-001            control: CQ-A1-4.6-a          objects: [site]
#     statement: …                attester: {name: …, role: …, organisation: …}
#     date: 2026-10-08            valid_until: 2027-10-07       result: pass
#     files: [{path: docs/report.pdf, sha256: …, type: report}]
"""),
    "waivers": ("waivers.yaml", "waivers: []\n", """\
# 豁免（接受的风险）/ waivers, accepted risk (docs/evidence.md). Add with `ihconform waiver add`.
#   - id: W-2026-01  control: L3-PES1-19  objects: [ups-b]  risk: medium
#     justification: …  compensating_control: …  approver: {name: …, role: …, organisation: …}
#     valid_from: 2026-10-01  valid_until: 2026-12-31
"""),
    "keyring": ("keyring.yaml", "keys: []\n", """\
# 可信公钥清单 / keyring: the keys allowed to sign, and whose (docs/evidence.md). Entries are printed
# by `ihconform attest keygen` and `ihconform attest pubkey KEY --owner NAME`.
#   - algorithm: ed25519  public_key: …  owner: {name: …, role: …, organisation: …}
"""),
}


def _evidence_paths(inventory: Path) -> dict[str, Path]:
    """The evidence: paths an inventory names, read without loading it: the loader refuses an
    inventory whose ledger files do not exist yet, which is what this command is for."""
    doc = load_yaml(inventory)
    ev = doc.data.get("evidence") if isinstance(doc.data, dict) else None
    if not isinstance(ev, dict) or not any(ev.get(k) for k in _EMPTY_LEDGER):
        raise ConfigError("the inventory names no evidence files; add e.g. `evidence: {attestations: ledger/, "
                          "waivers: waivers.yaml, keyring: keyring.yaml}`", Location(inventory), field="evidence")
    out: dict[str, Path] = {}
    for k in _EMPTY_LEDGER:
        v = ev.get(k)
        if v:
            p = Path(str(v)).expanduser()
            out[k] = p if p.is_absolute() else inventory.parent / p
    return out


def _records_init(args: argparse.Namespace) -> int:
    """Create the empty ledger files (an attestation folder gets a README, not a record), never
    overwriting one: an inventory that names them loads, and `attest add` has a file to add to."""
    if args.inventory is not None:
        targets = _evidence_paths(args.inventory)
    else:
        targets = {k: args.dir / name for k, (name, _, _) in _EMPTY_LEDGER.items()}
    for kind, path in targets.items():
        _, body, comment = _EMPTY_LEDGER[kind]
        as_dir = kind == "attestations" and (path.is_dir() or path.suffix not in (".yaml", ".yml"))
        if path.exists():
            print(f"已存在，未改动 / exists, left as is: {path}")
            continue
        if as_dir:  # a folder ledger: one <id>.yaml per record, written by `attest add --ledger DIR`
            path.mkdir(parents=True)
            (path / "README.txt").write_text(comment.replace("# ", "").replace("#", ""), encoding="utf-8")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("x", encoding="utf-8") as f:
                f.write(comment + body)
        print(f"已创建 / created {kind}: {path}")
    if args.inventory is None:
        print("清单中加入 / add to the inventory:\nevidence:\n"
              + "".join(f"  {k}: {p.as_posix()}\n" for k, p in targets.items()), end="")
    return 0


def _waiver_list(args: argparse.Namespace) -> int:
    led = _load(args, "waivers")
    print(f"{'id':<20} {'control':<16} {'objects':<14} {'state':<14} {'risk':<7} validity  approver")
    for c in led.waivers:
        print(_row(c))
    return 0


def _waiver_check(args: argparse.Namespace) -> int:
    led = _load(args, "waivers")
    for c in led.waivers:
        print(_row(c))
    for line in led.warnings():
        print(f"警告 / warning: {line}", file=sys.stderr)
    return 1 if any(c.state != ACTIVE for c in led.waivers) else 0
