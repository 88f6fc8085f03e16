"""``ihconform report | bundle | verify | diff | upload | receiver``.

Exit codes: 0 ok; 1 verify failed, regressions found, or the platform rejected the upload;
2 usage or bad input (also: bundle/upload of a partial run without --allow-partial); 3 upload
not completed (platform unreachable or failing after all retries: try again later — nothing is
wrong with the bundle), or diff found a coverage drop and no regression.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zipfile
from pathlib import Path
from typing import Any, cast

from ihconform.errors import ConfigError, Location
from ihconform.report.i18n import Lang

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3


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
    from ihconform.report.render import PdfUnavailable, profile_texts, write_reports
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


def cmd_upload(args: argparse.Namespace) -> int:
    from ihconform.upload.adapter import get_adapter
    from ihconform.upload.client import UploadFailed, UploadOptions, UploadRejected

    adapter = get_adapter(args.adapter)
    token = ""
    if args.token_env:
        token = os.environ.get(args.token_env, "")
        if not token and not args.client_cert:
            raise ConfigError(f"environment variable {args.token_env} (upload token) is not set; "
                              "or give --client-cert/--client-key")
    opts = UploadOptions(platform=args.platform, token=token, ca=Path(args.ca) if args.ca else None,
                         client_cert=Path(args.client_cert) if args.client_cert else None,
                         client_key=Path(args.client_key) if args.client_key else None,
                         timeout_s=args.timeout, attempts=args.attempts, backoff_s=args.backoff,
                         chunk=args.chunk_mib << 20, log=_say, allow_partial=args.allow_partial)
    try:
        out = adapter.send(Path(args.bundle), opts)
    except UploadRejected as exc:
        print(f"平台拒绝 / REJECTED by the platform: {exc}")
        return EXIT_FAIL
    except UploadFailed as exc:
        print(f"上传未完成，请稍后重试 / upload NOT completed, try again later: {exc}")
        return EXIT_INCOMPLETE
    note = "（此前已接收，未重复发送 / already accepted earlier; nothing sent）" if out.already else ""
    print(f"平台已接收 / ACCEPTED: receipt {out.receipt.get('receipt_id', '')} "
          f"at {out.receipt.get('accepted_at', '')}{note}")
    return EXIT_OK


def cmd_receiver(args: argparse.Namespace) -> int:
    from ihconform.report.signing import load_trusted
    from ihconform.upload.receiver import Faults, Receiver, ReceiverConfig
    from ihconform.upload.tlsca import make_test_pki

    pki_dir = Path(args.pki)
    if not (pki_dir / "server.pem").exists():
        make_test_pki(pki_dir)
        _say(f"测试证书 / test PKI written to {pki_dir} (trust it with upload --ca {pki_dir / 'ca.pem'})")
    token = os.environ.get(args.token_env, "") if args.token_env else ""
    cfg = ReceiverConfig(store=Path(args.store), token=token,
                         trusted=load_trusted(Path(args.trusted)) if args.trusted else None,
                         faults=Faults(fail_5xx=args.fail_5xx, stall=args.stall, stall_s=args.stall_seconds,
                                       reject_signature=args.reject_signature))
    rx = Receiver(cfg, cert=pki_dir / "server.pem", key=pki_dir / "server.key",
                  client_ca=pki_dir / "ca.pem" if args.client_certs else None, port=args.port)
    print(rx.url, flush=True)
    _say(f"参考接收端 / reference receiver at {rx.url}{' (token required)' if token else ''}; Ctrl-C to stop")
    rx.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        rx.stop()
    return EXIT_OK


def register(subparsers: Any) -> None:
    """Add the report, bundle, verify, diff, upload and receiver subcommands."""
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

    u = subparsers.add_parser("upload", help="上传证据包至监管平台 / upload a bundle to the platform")
    u.add_argument("bundle")
    u.add_argument("--platform", required=True, help="平台地址（https://…）/ platform base URL (https://…)")
    u.add_argument("--adapter", default="reference",
                   help="平台接口适配器（默认 reference：参考交换格式，非监管平台对接规范）/ platform interface "
                        "adapter (default reference: the reference exchange format of docs/upload-api.md)")
    u.add_argument("--token-env", default="IHC_UPLOAD_TOKEN",
                   help="存放令牌的环境变量名（默认 IHC_UPLOAD_TOKEN）/ environment variable holding the token")
    u.add_argument("--ca", help="额外信任的 CA 证书 / extra CA certificate to trust")
    u.add_argument("--client-cert", help="客户端证书 / client certificate (PEM)")
    u.add_argument("--client-key", help="客户端证书私钥 / client certificate key (PEM)")
    u.add_argument("--timeout", type=float, default=30.0, help="单次请求超时秒数 / per-request timeout (s)")
    u.add_argument("--attempts", type=int, default=6, help="最多尝试次数 / attempts before giving up")
    u.add_argument("--backoff", type=float, default=1.0,
                   help="首次重试等待秒数（之后翻倍）/ first retry delay (doubles)")
    u.add_argument("--chunk-mib", type=int, default=4, help="分片大小 MiB / chunk size in MiB")
    u.add_argument("--allow-partial", action="store_true",
                   help="允许上传专项检查（--only 运行）/ upload a partial (--only) run anyway")
    u.set_defaults(func=cmd_upload)

    x = subparsers.add_parser("receiver",
                              help="运行参考接收端（测试与演示用）/ run the reference receiver (tests, demos)")
    x.add_argument("--store", required=True, help="接收目录 / folder for received bundles")
    x.add_argument("--port", type=int, default=8443, help="端口（127.0.0.1）/ port on 127.0.0.1 (0: any)")
    x.add_argument("--pki", default="receiver-pki",
                   help="测试证书目录（不存在则生成）/ test PKI folder (made if missing)")
    x.add_argument("--token-env", default="", help="要求令牌：令牌所在环境变量 / require the token in this variable")
    x.add_argument("--client-certs", action="store_true",
                   help="接受测试 CA 签发的客户端证书 / accept client certificates from the test CA")
    x.add_argument("--trusted", help="平台登记的测试方公钥 / tester keys the platform knows")
    x.add_argument("--fail-5xx", type=int, default=0, help="前 N 次上传请求返回 503 / answer 503 N times")
    x.add_argument("--stall", type=int, default=0, help="前 N 次上传请求不应答 / stall N upload requests")
    x.add_argument("--stall-seconds", type=float, default=5.0, help="不应答时长 / how long to stall")
    x.add_argument("--reject-signature", action="store_true", help="拒绝所有签名 / reject every bundle's signature")
    x.set_defaults(func=cmd_receiver)
