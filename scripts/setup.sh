#!/usr/bin/env bash
# Installs the system packages faultline needs to run real tests on this machine:
# iproute2 and iptables (namespaces, links, partitions), libfaketime (clock faults),
# procps (process inspection), the third-party systems it tests (etcd, Redis,
# PostgreSQL 15, MariaDB with the Galera-4 wsrep provider and rsync for its state
# transfers: faultline runs its own servers, never the packaged service),
# chromium (headless, for the tests that load the HTML report as a person would) and
# python3-junitparser (the JUnit consumer the tests validate junit.xml with), and
# OpenSSH's client and server (the ssh backend; its tests run their own sshd per
# namespace-host, never the packaged service, which this script neither starts nor
# enables when it installs it).
# Idempotent: packages already present are left alone. Needs root (apt-get).
set -euo pipefail

packages=(iproute2 iptables faketime procps psmisc etcd-server etcd-client redis-server redis-sentinel postgresql mariadb-server mariadb-client galera-4 rsync python3 python3-junitparser python3-redis chromium openssh-client openssh-server)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: need root to install: ${missing[*]} (run: sudo $0)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian's packages start their services at install (mariadb-server and
  # openssh-server would start and enable their own servers). A policy-rc.d that
  # refuses every start keeps them down for this install; one the machine already
  # has is left as it is.
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Installed here: these services were not there before, so they stay off.
  if command -v systemctl >/dev/null 2>&1; then
    if [[ " ${missing[*]} " == *" openssh-server "* ]]; then
      systemctl disable --quiet ssh.service ssh.socket 2>/dev/null || true
    fi
    if [[ " ${missing[*]} " == *" mariadb-server "* ]]; then
      systemctl disable --quiet mariadb.service 2>/dev/null || true
    fi
  fi
fi

# The distribution's etcd and redis services must not hold the ports or data that
# faultline's own instances use; they are not needed at all.
for svc in etcd redis-server redis-sentinel; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done
echo "setup: ok"
