#!/usr/bin/env bash
# bootstrap.sh — set up ihconform on a fresh Debian 12 machine (as root) and run it.
#
#   bash bootstrap.sh run  [ihconform run options]   # install, then `ihconform run` (embedded default)
#   bash bootstrap.sh test [pytest options]          # install everything, then the whole test suite
#   bash bootstrap.sh bench [--repeat N]             # install, then the issue-9 benchmarks (docs/performance.md)
#   bash bootstrap.sh install                        # install only
#
# Idempotent: a second call skips what is already there. The Debian packages are the real
# servers the lab runs (OpenSSH, nginx, coturn, kamailio, NUT, MariaDB, iperf3, nmap, ...);
# policy-rc.d keeps their postinst scripts from starting them in the root namespace.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
mode="${1:-run}"; shift || true

# What `ihconform run` needs (report.pdf: the Noto CJK font Typst embeds), then the lab's servers.
DEB_RUN=(openssh-client iproute2 procps fonts-noto-cjk)
DEB_LAB=(openssh-server nginx-light libnginx-mod-http-echo iperf3 traceroute nmap coturn kamailio
         nut-server nut-client nftables speedtest-cli mariadb-server postgresql
         testssl.sh poppler-utils fonts-noto-cjk util-linux openssl curl sudo libpam-pwquality lynis
         debootstrap apache2 tomcat10 frr snmpd rsyslog busybox)  # frr, snmpd, rsyslog: the lab devices' daemons (docs/devices.md); busybox: the fact batch under busybox's dd (test_collect)

need_root() { [ "$(id -u)" = 0 ] || { echo "bootstrap.sh: run as root (apt-get)" >&2; exit 2; }; }

install_debs() {
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  need_root
  # Keep services from starting in the root namespace during postinst (the lab starts its own).
  if [ ! -x /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

setup_venv() {
  local extras="$1"
  if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e ".[${extras}]"
}

case "$mode" in
  install) install_debs "${DEB_RUN[@]}" "${DEB_LAB[@]}"; setup_venv all,test ;;
  run)     install_debs "${DEB_RUN[@]}"; setup_venv all; exec .venv/bin/ihconform run "$@" ;;
  test)    install_debs "${DEB_RUN[@]}" "${DEB_LAB[@]}"; setup_venv all,test
           exec .venv/bin/python -m pytest "$@" ;;
  bench)   install_debs "${DEB_RUN[@]}" "${DEB_LAB[@]}"; setup_venv all,test,bench
           exec .venv/bin/python bench/run.py "$@" ;;
  *) echo "usage: bash bootstrap.sh run|test|bench|install [args]" >&2; exit 2 ;;
esac
