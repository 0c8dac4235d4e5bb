#!/usr/bin/env bash
# make bench: every benchmark of the project, each next to its anchor
# measured in the same run on the same machine. Results go to one folder
# (default bench-results/); BENCHMARKS.md summarises a run of this script.
# Needs root (namespaces, the qemu VM) and the packages of
# scripts/install-test-deps.sh. Takes about 30 minutes on 2 cores.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
out=${1:-bench-results}
mkdir -p "$out"
out=$(cd "$out" && pwd) # absolute: go test runs in each package's folder
status=0
# The demos' role binaries, for the ecmp step.
go build -o bin/ ./examples/... || status=1

{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
  echo "memory: $(free -h | awk '/Mem:/{print $2}')"
  echo "kernel: $(uname -r)"
  echo "go: $(go version)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out/machine.txt"
cat "$out/machine.txt"

step() {
  local name=$1; shift
  echo "== $name: $*"
  local start=$SECONDS
  if "$@" > "$out/$name.log" 2>&1; then
    echo "   ok ($((SECONDS - start)) s) -> $out/$name.log"
  else
    echo "   FAILED ($((SECONDS - start)) s), see $out/$name.log"; tail -5 "$out/$name.log"
    status=1
  fi
}

# VRRP failover (master killed) and graceful handover (master sends
# priority 0) against keepalived (v2 at 1 s, v3 at 100 ms; 20 runs each),
# a master flooded with adverts of lower priority and bad packets (its
# answers and log, next to keepalived's), and 1,000 instances in one
# process.
step vrrp go run ./vrrp/cmd/vrrpbench -runs 20 -out "$out/vrrp.md"

# IPVS programming in the qemu kernel VM: 1,000 services x 10 destinations
# by lvskit vs `ipvsadm -R`, and a no-op Sync.
step ipvs-kernel env LVSKIT_BENCH=1 LVSKIT_BENCH_OUT="$out/ipvs-kernel.txt" go test -count=1 -run 'TestKernelBench$' -v -timeout 30m ./ipvs

# The userspace proxy vs HAProxy (mode tcp) vs a direct connection, by wrk.
step userspace-proxy go run ./ipvs/internal/proxybench -duration 10s -rounds 5 -also-poller -also-goroutines -strace 4s \
  -out "$out/userspace-proxy.md" -json "$out/userspace-proxy.json"

# The nftables backend between namespaces: NAT and DR next to a direct
# connection, the userspace proxy and HAProxy (wrk from a client
# namespace), and programming 1,000 services x 10 destinations next to
# `nft -f` of a table of the same shape, with a no-op Sync.
step nftables go run ./ipvs/internal/proxybench -netns -duration 10s -rounds 3 -program-rounds 5 \
  -out "$out/nftables.md" -json "$out/nftables.json"

# 100,000 connections through the proxy: file descriptors and goroutines
# before and after.
step proxy-leaks go test -count=1 -run TestNoFDLeak -v -timeout 600s ./ipvs/internal/proxy -args -proxy.leakconns=100000

# BGP: how long after a speaker's death FRR's FIB drops its next hop, with
# BFD at 100 ms x 3 and with BGP timers alone (5 runs each).
step bgp-failover env LVSKIT_BENCH=1 LVSKIT_BENCH_OUT="$out/bgp-failover.md" go test -count=1 -run 'TestIntegrationBenchFailover$' -v -timeout 10m ./bgp

# Active-active next to active-passive: a director's host dies under 100
# long-lived connections (make demo-ecmp's lab, 5 deaths per case), the
# router's removal of it with BFD at 100 ms x 3 and with BGP timers alone,
# the connections broken; and the VRRP pair's failover gap (make demo's
# cluster, 3 runs).
step ecmp go run ./internal/ecmpbench -bin bin -kills 5 -vrrp-runs 3 -out "$out/ecmp.md"

# Health checks: 10,000 HTTP targets every second, CPU and memory; then
# how long a killed server takes to be reported down (wall clock).
step healthcheck go run ./healthcheck/internal/bench -targets 10000 -duration 30s -out "$out/healthcheck.md"

# Micro-benchmarks: schedulers with 1,000 destinations, parser, netcfg
# takeover, alert notifier with a dead SMTP server.
step go-bench go test -count=1 -run '^$' -bench . -benchmem ./ipvs/sched ./internal/keepalived ./internal/alert
step netcfg-bench go test -count=1 -run '^$' -bench . -benchtime=300x ./netcfg
step alert-latency go test -count=1 -run TestNotifyLatency -v ./internal/alert

echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.txt"
echo "results in $out/"
exit $status
