#!/usr/bin/env bash
# Installs, on a Debian 12 machine as root, every package the test tiers and
# benchmarks use. Idempotent: a second run installs nothing and is quick.
set -euo pipefail

pkgs=(
  iproute2 iputils-ping nftables procps # observers for netns tests
  keepalived                          # VRRP peer for interop tests
  frr                                 # BGP + BFD router (bgpd, bfdd, zebra) for the bgp tests
  tshark                              # decodes what we put on the wire
  qemu-system-x86 busybox-static cpio xz-utils # the IPVS kernel VM
  ipvsadm                             # independent reader of the IPVS table (copied into the VM)
  prometheus                          # promtool check metrics
  wrk haproxy                         # make bench anchors
  strace                              # make bench: system calls per request
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-test-deps: all packages present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-test-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi
echo "install-test-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts some daemons on install; the tests run their own instances.
for svc in keepalived frr haproxy prometheus prometheus-node-exporter; do
  systemctl stop "$svc" 2>/dev/null || service "$svc" stop 2>/dev/null || true
done
echo "install-test-deps: done"
