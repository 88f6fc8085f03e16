"""``ihconform report | bundle | verify | diff`` (``upload`` and ``receiver``: ihconform.upload.cli).

Exit codes: 0 ok; 1 verify failed or regressions found; 2 usage or bad input (also: bundle of
a partial run without --allow-partial); 3 diff found a coverage drop and no regression.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zipfile
from pathlib import Path
from typing import Any, cast

from ihconform.errors import ConfigError, Location
from ihconform.report.i18n import Lang

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _say(msg: str) -> None:
    sys.stderr.write(msg.rstrip("\n") + "\n")


def _previous_run(path: Path) -> Any:
    """Last year's run for the comparison. A bundle must verify first: a year-over-year claim
    is only worth what its baseline is."""
    from ihconform.report.bundle import load_run, verify_bundle

    if path.is_file() and zipfile.is_zipfile(path):
        v = verify_bundle(path)
        if not v.ok:
            raise ConfigError("previous bundle failed verification: " + "; ".join(v.problems[:3]), Location(path))
    return load_run(path)


def cmd_report(args: argparse.Namespace) -> int:
    from ihconform.diff import diff_runs
    from ihconform.report.bundle import load_run
    from ihconform.report.pdf import PdfUnavailable
    from ihconform.report.render import profile_texts, write_reports
    from ihconform.report.word import DocxUnavailable

    folder = Path(args.run)
    if not (folder / "results.json").is_file():
        raise ConfigError("not a run folder (no results.json)", Location(folder))
    result = load_run(folder)
    previous = diff_runs(_previous_run(Path(args.previous)), result) if args.previous else None
    langs: tuple[Lang, ...] = ("zh", "en") if args.lang == "both" else (cast(Lang, args.lang),)
    t0 = time.perf_counter()
    texts = profile_texts(result)
    try:
        written = write_reports(result, folder, langs=langs, pdf=not args.no_pdf, docx=not args.no_docx,
                                documents=texts.documents,
                                remediation=texts.remediation, scores=texts.scores, previous=previous,
                                tester=args.tester)
    except (PdfUnavailable, DocxUnavailable) as exc:
        _say(f"ihconform: 错误 / error: {exc}")
        return EXIT_USAGE
    for p in written:
        print(p)
    _say(f"报告 / reports: {len(written)} files in {time.perf_counter() - t0:.1f}s")
    return EXIT_OK


def cmd_bundle(args: argparse.Namespace) -> int:
    from ihconform.report.bundle import bundle_digest, make_bundle
    from ihconform.report.signing import load_key

    folder = Path(args.run).resolve()
    out = Path(args.output) if args.output else folder.with_name(folder.name + ".bundle.zip")
    make_bundle(folder, out, load_key(Path(args.key)), tester=args.tester, allow_partial=args.allow_partial)
    print(out)
    _say(f"证据包 / bundle: {out} sha256 {bundle_digest(out)}")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from ihconform.report.bundle import verify_bundle
    from ihconform.report.signing import load_trusted

    trusted = load_trusted(Path(args.trusted)) if args.trusted else None
    v = verify_bundle(Path(args.bundle), trusted=trusted)
    if args.json:
        print(json.dumps({"bundle": str(v.path), "ok": v.ok, "problems": v.problems, "files": v.files,
                          "algorithm": v.algorithm, "key": v.key_fingerprint, "trusted_key": v.key_pinned,
                          "signer": v.signer}, ensure_ascii=False, indent=1))
    elif v.ok:
        who = (f"，可信密钥 / trusted key{' of ' + v.signer if v.signer else ''}" if v.key_pinned else
               "（未指定可信公钥，签名只证明未被改动 / no trusted key given: integrity only, not identity）")
        print(f"校验通过 / OK: {v.files} files, SHA-256+SM3 match; {v.algorithm} signature by {v.key_fingerprint}{who}")
    else:
        print("校验失败 / VERIFY FAILED:")
        for p in v.problems:
            print(f"  - {p}")
    return EXIT_OK if v.ok else EXIT_FAIL


def cmd_diff(args: argparse.Namespace) -> int:
    from ihconform.diff import diff_runs, format_text
    from ihconform.report.bundle import load_run

    d = diff_runs(load_run(Path(args.old)), load_run(Path(args.new)))
    if args.json:
        print(json.dumps(d.as_dict(), ensure_ascii=False, indent=1))
    else:
        sys.stdout.write(format_text(d))
    return d.exit_code  # 1 regressions, 3 coverage drop (a full run compared with a 专项检查), else 0


def register(subparsers: Any) -> None:
    """Add the report, bundle, verify and diff subcommands."""
    r = subparsers.add_parser("report", help="由 results.json 重新生成报告 / re-render a run folder's reports")
    r.add_argument("run", help="运行目录 / run folder (reports/<date>-<id>)")
    r.add_argument("--lang", choices=["zh", "en", "both"], default="zh",
                   help="语言（默认中文；en 写 report.en.*）/ language (default zh; en writes report.en.*)")
    r.add_argument("--previous", metavar="BUNDLE_OR_RESULTS",
                   help="上年证据包或结果，加入上年对比 / last year's bundle, run folder or results.json")
    r.add_argument("--tester", default="", help="测试单位/测试人，印在封面 / tester, printed on the cover")
    r.add_argument("--no-pdf", action="store_true", help="不生成 PDF / no report.pdf")
    r.add_argument("--no-docx", action="store_true", help="不生成 Word / no report.docx")
    r.set_defaults(func=cmd_report)

    b = subparsers.add_parser("bundle", help="生成签名证据包 / make the signed evidence bundle of a run")
    b.add_argument("run", help="运行目录 / run folder")
    b.add_argument("--key", required=True,
                   help="测试方私钥（ihconform attest keygen 生成；Ed25519 或 SM2）/ tester's private key "
                        "(from `ihconform attest keygen`; Ed25519 or SM2)")
    b.add_argument("-o", "--output", help="输出文件（默认 <运行目录>.bundle.zip）/ output (default <run>.bundle.zip)")
    b.add_argument("--tester", default="", help="测试单位/测试人，写入清单 / tester, recorded in the manifest")
    b.add_argument("--allow-partial", action="store_true",
                   help="允许打包专项检查（--only 运行）/ bundle a partial (--only) run anyway")
    b.set_defaults(func=cmd_bundle)

    v = subparsers.add_parser("verify", help="校验证据包的摘要与签名 / verify a bundle's digests and signature")
    v.add_argument("bundle")
    v.add_argument("--trusted", metavar="KEY_OR_KEYRING",
                   help="可信公钥或公钥清单 / trusted public key file or ledger keyring (YAML)")
    v.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    v.set_defaults(func=cmd_verify)

    d = subparsers.add_parser("diff", help="比较两次运行（有退步时退出码 1，覆盖范围缩小时 3）/ compare two runs "
                                   "(exit 1 on regressions, 3 on a coverage drop)")
    d.add_argument("old", help="上年证据包、运行目录或 results.json / old bundle, run folder or results.json")
    d.add_argument("new", help="本年证据包、运行目录或 results.json / new bundle, run folder or results.json")
    d.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    d.set_defaults(func=cmd_diff)
