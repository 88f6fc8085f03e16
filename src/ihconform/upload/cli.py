"""``ihconform upload | receiver``: send a bundle to the supervision platform; run the reference receiver.

Why beside the upload code: the commands are thin shells over ``upload.client`` and
``upload.receiver``; they change together. The client, receiver and test PKI are imported when
the command runs, not when the command line is built (every ``ihconform`` start registers
these subcommands).

Exit codes: 0 accepted; 1 the platform rejected the upload; 2 usage or bad input (also: upload
of a partial run without --allow-partial); 3 upload not completed (platform unreachable or
failing after all retries: try again later — nothing is wrong with the bundle).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from ihconform.errors import ConfigError

EXIT_OK, EXIT_REJECTED, EXIT_NOT_COMPLETED = 0, 1, 3


def _say(msg: str) -> None:
    sys.stderr.write(msg.rstrip("\n") + "\n")


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
        return EXIT_REJECTED
    except UploadFailed as exc:
        print(f"上传未完成，请稍后重试 / upload NOT completed, try again later: {exc}")
        return EXIT_NOT_COMPLETED
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
    """Add the upload and receiver subcommands."""
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
