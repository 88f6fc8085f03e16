"""nginx everywhere it is needed: app01/app02 (HTTPS in front of an app), the "internet"
(Speedtest-Mini + speedtest config, iperf3) and the provincial platform (HTTPS).

Why nginx's own ``-c`` and ``-e`` files under the runtime folder: the real /etc/nginx and
/var/log/nginx are never written, and each instance has its own pid, logs and temp paths.
"""

from __future__ import annotations

import os
from pathlib import Path

from ihconform.lab import plan
from ihconform.lab.context import LabContext, Service
from ihconform.lab.pki import CertFiles
from ihconform.lab.proc import detach, host_exec, ns_exec, run, start_daemon

GOOD_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")
APP_PORT = 8080

# speedtest-cli 2.1.3 fetches these exact sizes (random<N>x<N>.jpg); the content is irrelevant.
SPEEDTEST_SIZES = {350: 245388, 500: 505544, 750: 1118012, 1000: 1986284, 1500: 4468241, 2000: 7907740,
                   2500: 12407926, 3000: 17816816, 3500: 24262167, 4000: 31625365}
SPEEDTEST_CONFIG = (
    '<?xml version="1.0" encoding="UTF-8"?>\\n<settings>\\n'
    '<client ip="$remote_addr" lat="29.5630" lon="106.5516" isp="$lab_isp" isprating="3.7" rating="0" '
    'ispdlavg="0" ispulavg="0" loggedin="0" country="CN"/>\\n'
    '<server-config threadcount="4" ignoreids="" notonmap="" forcepingid="" preferredserverid=""/>\\n'
    '<licensekey>ihconform-lab</licensekey>\\n<customer>ihconform-lab</customer>\\n'
    '<times dl1="5000000" dl2="35000000" dl3="800000000" ul1="1000000" ul2="8000000" ul3="35000000"/>\\n'
    '<download testlength="5" initialtest="250K" mintestsize="250K" threadsperurl="4"/>\\n'
    '<upload testlength="5" ratio="5" initialtest="0" mintestsize="32K" threads="2" maxchunksize="512K" '
    'maxchunkcount="50" threadsperurl="4"/>\\n'
    '<latency testlength="10" waittime="50" timeout="20"/>\\n</settings>\\n'
)
MINI_PAGE = """<!DOCTYPE html>
<html><head><title>Speedtest Mini (ihconform lab)</title></head>
<body><p>Speedtest Mini stand-in for the ihconform lab.</p>
<script>var settings = { upload_extension: "php" };</script></body></html>
"""


def _head(d: Path, *, user: str = "www-data", access_log: bool = True) -> str:
    """The main context and the start of ``http``: ``user root`` (variant nginx-root) runs the
    workers as root; ``access_log`` False (variant no-access-log) writes ``access_log off``."""
    log = str(d / "access.log") if access_log else "off"
    return (f"user {user};\nworker_processes 1;\npid {d / 'nginx.pid'};\n"
            f"error_log {d / 'error.log'} warn;\n"
            "include /etc/nginx/modules-enabled/*.conf;\nevents { worker_connections 256; }\n"
            "http {\n  include /etc/nginx/mime.types;\n  default_type application/octet-stream;\n"
            f"  access_log {log};\n  server_tokens off;\n  sendfile on;\n"
            + "".join(f"  {k}_temp_path {d / 'temp' / k};\n"
                      for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")))


def app_nginx_conf(d: Path, host: plan.HostSpec, cert: CertFiles, *, weak: bool,
                   public: tuple[str, ...] = (), variants: tuple[str, ...] = ()) -> str:
    """HTTP redirects to HTTPS; HTTPS (Mozilla intermediate, HSTS) proxies to the local app.
    ``weak``: TLS 1.0/1.1, CBC suites at security level 0, no HSTS (variant weak-tls).
    ``public``: the host's uplink addresses, where the portal also answers the internet.
    ``variants`` that change this host: nginx-root, no-access-log, null-suite (one decisive
    sub-check each, see plan.DECISIVE_HOSTS)."""
    addrs = (host.address, *public)
    head = _head(d, user="root" if plan.variant_on(variants, "nginx-root", host.id) else "www-data",
                 access_log=not plan.variant_on(variants, "no-access-log", host.id))
    if plan.variant_on(variants, "null-suite", host.id):  # hardened otherwise: only the NULL suites added
        tls = ("    ssl_protocols TLSv1.2 TLSv1.3;\n"
               f"    ssl_ciphers '{GOOD_CIPHERS}:ECDHE-ECDSA-NULL-SHA:ECDHE-RSA-NULL-SHA:@SECLEVEL=0';\n"
               "    ssl_ecdh_curve X25519:prime256v1:secp384r1;\n"
               "    ssl_prefer_server_ciphers off;\n    ssl_session_tickets off;\n"
               '    add_header Strict-Transport-Security "max-age=63072000" always;\n')
    elif weak:
        tls = ("    ssl_protocols TLSv1 TLSv1.1 TLSv1.2;\n"
               "    ssl_ciphers 'DEFAULT:ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:@SECLEVEL=0';\n"
               "    ssl_prefer_server_ciphers off;\n")
    else:
        tls = ("    ssl_protocols TLSv1.2 TLSv1.3;\n"
               f"    ssl_ciphers {GOOD_CIPHERS};\n"
               "    ssl_ecdh_curve X25519:prime256v1:secp384r1;\n"
               "    ssl_prefer_server_ciphers off;\n    ssl_session_tickets off;\n"
               '    add_header Strict-Transport-Security "max-age=63072000" always;\n')
    return (head
            + "  server {\n" + "".join(f"    listen {a}:80;\n" for a in addrs) + f"    server_name {host.fqdn};\n"
              "    return 301 https://$host$request_uri;\n  }\n"
            + "  server {\n" + "".join(f"    listen {a}:443 ssl http2;\n" for a in addrs)
            + f"    server_name {host.fqdn};\n"
              f"    ssl_certificate {cert.cert};\n    ssl_certificate_key {cert.key};\n"
            + tls
            + "    add_header X-Content-Type-Options nosniff always;\n"
              "    add_header X-Frame-Options DENY always;\n"
              f"    location / {{\n      proxy_pass http://127.0.0.1:{APP_PORT};\n"
              "      proxy_set_header Host $host;\n      proxy_set_header X-Forwarded-For $remote_addr;\n"
              "      proxy_set_header X-Forwarded-Proto https;\n    }\n  }\n}\n")


def start_app(ctx: LabContext, host_id: str) -> None:
    """nginx + a tiny application (python http.server as www-data) on an app host."""
    host = plan.HOST_BY_ID[host_id]
    init = ctx.inits[host_id]
    d = ctx.dir("hosts", host_id, "nginx")
    (d / "temp").mkdir(exist_ok=True)
    www = ctx.dir("hosts", host_id, "www")
    (www / "index.html").write_text(f"<!DOCTYPE html><html><body><h1>互联网医院 {host_id}</h1>"
                                    "<p>ihconform lab application</p></body></html>\n")
    (www / "health").write_text("ok\n")
    weak = host_id == "app01" and ctx.has("weak-tls")
    cert = ctx.ca.issue(f"{host_id}-{'expired' if weak else 'tls'}", [host.fqdn, host.id], [host.address],
                        expired=weak)
    public = plan.public_addresses(host_id, ctx.variants)
    (d / "nginx.conf").write_text(app_nginx_conf(d, host, cert, weak=weak, public=public,
                                                   variants=ctx.variants))
    start_daemon(host_exec(init, detach(["runuser", "-u", "www-data", "--", "/usr/bin/python3", "-m",
                                         "http.server", str(APP_PORT), "--bind", "127.0.0.1",
                                         "--directory", str(www)])), d / "app.log")
    run(host_exec(init, ["nginx", "-e", d / "error.log", "-c", d / "nginx.conf"]))


#: The reflector on the lab's internet: answers with the client address it saw (the egress
#: address of an uplink as the outside sees it), like a speedtest server's echo service.
REFLECTOR_PATH = "/ip"


def inet_nginx_conf(d: Path, www: Path) -> str:
    isp_map = "".join(f'    {u["source"]} "{u["isp"]}";\n' for u in plan.uplinks(()))
    return (_head(d)
            + "  client_max_body_size 64m;\n  client_body_buffer_size 1m;\n"
            + f'  map $remote_addr $lab_isp {{\n{isp_map}    default "Lab Internet";\n  }}\n'
            + f"  server {{\n    listen {plan.INET_SERVER}:80 default_server;\n"
              "    server_name www.speedtest.net speedtest.lab;\n"
              f"    root {www};\n"
              "    location = /speedtest-config.php {\n      default_type text/xml;\n"
              f"      return 200 '{SPEEDTEST_CONFIG}';\n    }}\n"
              "    location = /speedtest/upload.php {\n      echo_read_request_body;\n"
              "      echo 'size=$content_length';\n    }\n"
              f"    location = {REFLECTOR_PATH} {{\n      default_type text/plain;\n"
              "      return 200 '$remote_addr\\n';\n    }\n"
              "    location / {\n      expires -1;\n    }\n  }\n}\n")


def start_inet(ctx: LabContext) -> None:
    """The "internet": Speedtest-Mini site and speedtest config (nginx), and an iperf3 server."""
    d = ctx.dir("inet", "nginx")
    (d / "temp").mkdir(exist_ok=True)
    www = ctx.dir("inet", "www")
    (www / "index.html").write_text(MINI_PAGE)
    st = www / "speedtest"
    st.mkdir(exist_ok=True)
    (st / "latency.txt").write_text("test=test\n")
    for n, size in SPEEDTEST_SIZES.items():
        with (st / f"random{n}x{n}.jpg").open("wb") as f:
            os.truncate(f.fileno(), size)  # sparse: costs no memory
    (d / "nginx.conf").write_text(inet_nginx_conf(d, www))
    run(ns_exec(plan.INET_NS, ["nginx", "-e", d / "error.log", "-c", d / "nginx.conf"]))
    # A client whose link is cut mid-test must not hold the server for the next uplink: the
    # receive and send time-outs (3 s) end a test whose data stops; --idle-timeout ends one
    # whose control connection went silent while the server was the sender (-R), which the
    # others do not (seen: a cut ISP B download held it until ISP A, measured next, timed out).
    run(ns_exec(plan.INET_NS, ["iperf3", "-s", "-B", plan.INET_SERVER, "-D", "--rcv-timeout", "3000",
                               "--snd-timeout", "3000", "--idle-timeout", "5",
                               "--logfile", ctx.runtime / "inet" / "iperf3.log"]))


def platform_nginx_conf(d: Path, cert: CertFiles) -> str:
    return (_head(d)
            + f"  server {{\n    listen {plan.PLATFORM_ADDR}:443 ssl http2;\n"
              f"    server_name {plan.PLATFORM_NAME};\n"
              f"    ssl_certificate {cert.cert};\n    ssl_certificate_key {cert.key};\n"
              f"    ssl_protocols TLSv1.2 TLSv1.3;\n    ssl_ciphers {GOOD_CIPHERS};\n"
              "    location / {\n      default_type application/json;\n"
              "      return 200 '{\"platform\": \"省级互联网医疗服务监管平台 (lab)\", \"status\": \"ok\"}';\n"
              "    }\n  }\n}\n")


def start_platform(ctx: LabContext) -> None:
    """The provincial supervision platform stand-in, HTTPS, reachable over the dedicated line."""
    d = ctx.dir("platform", "nginx")
    (d / "temp").mkdir(exist_ok=True)
    cert = ctx.ca.issue("platform", [plan.PLATFORM_NAME], [plan.PLATFORM_ADDR])
    (d / "nginx.conf").write_text(platform_nginx_conf(d, cert))
    run(ns_exec(plan.PLATFORM_NS, ["nginx", "-e", d / "error.log", "-c", d / "nginx.conf"]))


def register(ctx: LabContext) -> None:
    for hid in ("app01", "app02"):
        ns = plan.HOST_BY_ID[hid].ns
        ctx.add(Service(f"nginx-{hid}", "web", ns, (("tcp", 80), ("tcp", 443))))
        ctx.add(Service(f"app-{hid}", "app", ns, (("tcp", APP_PORT),)))
    ctx.add(Service("speedtest-mini", "internet", plan.INET_NS, (("tcp", 80),)))
    ctx.add(Service("iperf3", "internet", plan.INET_NS, (("tcp", 5201),)))
    ctx.add(Service("platform", "platform", plan.PLATFORM_NS, (("tcp", 443),)))
